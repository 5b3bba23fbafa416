r"""Where our scoring protocol and the TeleMath reference scorer part, case by case.

Each case is a realistic model output, the reference answer as TeleMath stores it (a plain number;
a unit where our generator knows one) and what a careful grader would say. docs/scoring.md shows
the table `protocol_table` draws from these cases; a test keeps the two equal.
"""

from __future__ import annotations

from typing import NamedTuple

from dta_edge.records import Problem
from dta_edge.tasks.protocols import judge


class Case(NamedTuple):
    kind: str
    text: str
    reference: str
    right: bool  # a careful grader's verdict
    unit: str | None = None


def _cases(kind: str, *rows: tuple) -> list[Case]:
    return [Case(kind, *row) for row in rows]


CORPUS: list[Case] = [
    *_cases(
        "plain number in \\boxed{}",
        (r"so \boxed{12.5}", "12.5", True),
        (r"\boxed{3}", "3", True),
        (r"\boxed{14}", "12.5", False),
        (r"\boxed{0.742}", "0.7418", True),
        (r"\boxed{1005}", "1000", True),
        (r"\boxed{1011}", "1000", False),
        (r"\boxed{-83.2}", "-83", True),
        (r"\boxed{2.5e-6}", "2.5e-06", True),
    ),
    *_cases(
        "small reference (abs 0.01 dominates)",
        (r"\boxed{0.005}", "0.004", False),
        (r"\boxed{0}", "0.0012", False),
        (r"\boxed{0}", "4e-14", False),
        (r"\boxed{8e-14}", "4e-14", False),
        (r"\boxed{0.011}", "0.02", False),
        (r"\boxed{0.0199}", "0.02", True),
        (r"\boxed{1.6e-19}", "1.602e-19", True),
        (r"\boxed{0.0031}", "0.003", False),
    ),
    *_cases(
        "unit or percent in the box",
        (r"\boxed{30 kbps}", "30000", True, "bps"),
        (r"\boxed{-83 dBm}", "-83", True),
        (r"\boxed{12.5\%}", "12.5", True),
        (r"\boxed{3 ms}", "0.003", True, "s"),
        (r"\boxed{2.4 GHz}", "2400000000", True, "Hz"),
        (r"\boxed{\text{20 dB}}", "20", True),
    ),
    *_cases(
        "LaTeX expression",
        (r"\boxed{\frac{3}{4}}", "0.75", True),
        (r"\boxed{1.2 \times 10^{-3}}", "0.0012", True),
        (r"\boxed{2.5 \times 10^{6}}", "2500000", True),
        (r"\boxed{\sqrt{2}/2}", "0.7071", True),
        (r"\boxed{\mathbf{42}}", "42", True),
    ),
    *_cases(
        "written without \\boxed{}",
        ("The answer is 42.", "42", True),
        ("Final answer: 0.25", "0.25", True),
        ("**Answer:** 7.5 dB", "7.5", True),
    ),
    *_cases(
        "number formatting",
        (r"\boxed{1,234}", "1234", True),
        (r"\boxed{3,5}", "3.5", True),
        (r"\boxed{ 12.5 }", "12.5", True),
    ),
]


def verdict_pair(case: Case) -> tuple[bool, bool]:
    """(ours, the reference's) verdict on one case."""
    problem = Problem(
        id="case", source="corpus", category="c", question="q", answer=float(case.reference),
        answer_text=case.reference, unit=case.unit,
    )  # fmt: skip
    return (
        judge("dta", case.text, problem).correct,
        judge("telemath-reference", case.text, problem).correct,
    )


def protocol_table(cases: list[Case]) -> list[str]:
    """Markdown rows: per kind of case, where the protocols agree and which one the grader backs."""
    lines = [
        "| kind of case | cases | agree | only dta says right | only reference says right "
        "| dta = grader | reference = grader |",
        "|---|---|---|---|---|---|---|",
    ]
    kinds = list(dict.fromkeys(case.kind for case in cases))
    totals = [0] * 6
    for kind in kinds:
        mine = [case for case in cases if case.kind == kind]
        pairs = [(verdict_pair(case), case.right) for case in mine]
        row = [
            len(mine),
            sum(ours == ref for (ours, ref), _ in pairs),
            sum(ours and not ref for (ours, ref), _ in pairs),
            sum(ref and not ours for (ours, ref), _ in pairs),
            sum(ours == right for (ours, _), right in pairs),
            sum(ref == right for (_, ref), right in pairs),
        ]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        lines.append(f"| {kind} | " + " | ".join(map(str, row)) + " |")
    lines.append("| **all** | " + " | ".join(f"**{n}**" for n in totals) + " |")
    return lines

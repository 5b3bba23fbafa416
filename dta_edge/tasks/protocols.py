r"""Scoring protocols: which rule decides that an answer is right.

``dta`` is ours (tasks/scoring.py): the answer is found anywhere a model puts it (``\boxed{}``, an
"Answer:" cue, the last number), units and LaTeX are read, and numbers match within a purely
relative tolerance. ``telemath-reference`` reproduces the public TeleMath reference scorer, so that
our pass@1 can stand beside published TeleMath tables: the answer is the last ``\boxed{}`` only;
two numbers are equal under ``math.isclose(rel_tol=0.01, abs_tol=0.01)``; anything that does not
parse as a Python float is compared as an exact string. docs/scoring.md lists where the two
disagree.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, get_args

from dta_edge.records import Problem

ProtocolName = Literal["dta", "telemath-reference"]
PROTOCOLS: tuple[str, ...] = get_args(ProtocolName)
DEFAULT_PROTOCOL: ProtocolName = "dta"
REFERENCE_REL_TOL = 0.01
REFERENCE_ABS_TOL = 0.01
_BOXED = "\\boxed{"


class Verdict(NamedTuple):
    """One answer judged: the span read, its value (if numeric), right or not, and why."""

    extracted: str | None
    value: float | None
    correct: bool
    reason: str


def last_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}``, or None when there is none or it never closes.

    As the reference (and MATH's ``last_boxed_only_string``) does: an unclosed last box is no
    answer, even if an earlier box closed.
    """
    start = text.rfind(_BOXED)
    if start == -1:
        return None
    depth, index = 1, start + len(_BOXED)
    while index < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        index += 1
    return text[start + len(_BOXED) : index - 1] if depth == 0 else None


def _as_float(text: str) -> float | None:
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def telemath_reference_verdict(text: str, problem: Problem) -> Verdict:
    """The TeleMath reference scorer's decision, nothing added: no units, no LaTeX, no cues."""
    boxed = last_boxed(text)
    if boxed is None:
        return Verdict(None, None, False, "no \\boxed{} answer")
    predicted = boxed.strip()
    reference_text = problem.answer_text.strip()
    value = _as_float(predicted)
    reference = problem.answer if problem.answer is not None else _as_float(reference_text)
    if value is not None and reference is not None:
        ok = math.isclose(value, reference, rel_tol=REFERENCE_REL_TOL, abs_tol=REFERENCE_ABS_TOL)
        relation = "isclose to" if ok else "not isclose to"
        return Verdict(predicted, value, ok, f"{value:g} {relation} {reference:g} (1%, abs 0.01)")
    ok = predicted == reference_text
    return Verdict(predicted, value, ok, "same string" if ok else "different string")


def judge(
    protocol: ProtocolName, text: str, problem: Problem, default_rel_tol: float = 0.01
) -> Verdict:
    """``text`` judged against ``problem`` under ``protocol``."""
    if protocol == "telemath-reference":
        return telemath_reference_verdict(text, problem)
    from dta_edge.tasks.scoring import score_text

    return Verdict(*score_text(text, problem, default_rel_tol))


def verdicts(text: str, problem: Problem, default_rel_tol: float = 0.01) -> dict[str, bool]:
    """Right or wrong under every protocol, for records that show them side by side."""
    return {name: judge(name, text, problem, default_rel_tol).correct for name in PROTOCOLS}  # type: ignore[arg-type]

"""The built-in `reference` teacher: generator solutions in several styles, some made wrong.

It gives the offline demo a diverse, partly wrong candidate pool without any model: the wrong
ones (labelled synthetic) are there for agreement, rewriting checks and the judge to catch.
"""

from __future__ import annotations

import random
import re

from dta_edge.records import Problem
from dta_edge.tasks.telecom._common import fmt

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_STEP = re.compile(r"^Step \d+: ", re.MULTILINE)
_CONNECTORS = ("First, ", "Next, ", "Then, ", "After that, ", "Finally, ")


def _steps(solution: str) -> tuple[list[str], str]:
    lines = solution.strip().splitlines()
    final = lines[-1] if lines and "\\boxed" in lines[-1] else ""
    body = [_STEP.sub("", line) for line in lines if line and line != final]
    return body, final


def styled_solution(problem: Problem, style: str) -> str:
    """The problem's reference solution written in ``style``."""
    body, final = _steps(problem.solution or "")
    if style == "steps":
        return problem.solution or ""
    if style == "formula-first":
        plan = f"We use {problem.method}" if problem.method else "We apply the standard formula."
        return "\n".join([plan, *body, final])
    if style == "narrative":
        sentences = [
            _CONNECTORS[min(i, len(_CONNECTORS) - 1)] + step for i, step in enumerate(body)
        ]
        return " ".join(sentences) + "\n" + final
    if style == "terse":
        return "\n".join([*body[-1:], final])
    raise ValueError(f"unknown style {style}")


def corrupt(text: str, problem: Problem, rng: random.Random) -> str:
    """Change the boxed answer to a wrong value (off by 20-60%, sign kept)."""
    if problem.answer is None:
        return text + " (sign error)"
    factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.2, 0.6)
    wrong = fmt(problem.answer * factor) if problem.answer else "1"
    return _BOXED.sub(lambda _m: "\\boxed{" + wrong + "}", text)


def reference_samples(
    problem: Problem, k: int, styles: tuple[str, ...], wrong_fraction: float, seed: int
) -> list[tuple[str, bool]]:
    """K (text, synthetic) pairs; sample i uses styles[i % len(styles)]."""
    if not problem.solution:
        return []
    rng = random.Random(f"{seed}:{problem.id}")
    samples = []
    for index in range(k):
        text = styled_solution(problem, styles[index % len(styles)])
        wrong = rng.random() < wrong_fraction
        samples.append((corrupt(text, problem, rng) if wrong else text, wrong))
    return samples


def restyle(text: str) -> str:
    """Any solution restated as numbered steps and a final-answer line: the generator's format.

    The offline demo's stand-in for a rewriting model: the embedded student was trained on this
    format, so restating a solution in it is what "in the student's voice" means there. Its
    steps compute (each holds an '='): a plan sentence with no arithmetic is left out where
    computing steps remain, since the student never writes one.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    final = next((line for line in reversed(lines) if "\\boxed" in line), "")
    body = " ".join(line for line in lines if line != final)
    for connector in _CONNECTORS:
        body = body.replace(connector, "\n")
    steps = [_STEP.sub("", part).strip() for part in re.split(r"\n|(?<=\.) (?=[A-Z])", body)]
    steps = [step[0].upper() + step[1:] for step in steps if step]
    steps = [step for step in steps if "=" in step] or steps
    if final and not final.startswith("Final answer:"):
        final = "Final answer: " + final[final.index("\\boxed") :]
    numbered = [f"Step {i}: {step}" for i, step in enumerate(steps, start=1)]
    return "\n".join([*numbered, final]) if final else "\n".join(numbered)

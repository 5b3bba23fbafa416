"""Shared pieces of the problem families: the family record, number formatting, sampling."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from dta_edge.records import Difficulty

T = TypeVar("T")

CATEGORIES: tuple[str, ...] = (
    "Telecommunications Engineering",
    "Probability & Statistics",
    "Signal Processing",
    "Operations Research",
    "Information Theory",
    "Computer Networking",
    "Electrical Engineering",
)


@dataclass(frozen=True)
class FamilyProblem:
    """What a family produces for one draw: text, answer and the worked steps."""

    question: str
    answer: float
    unit: str
    steps: tuple[str, ...]
    method: str
    rel_tol: float = 0.01
    oneshot: str | None = None  # the whole computation in one line (demo tier)


@dataclass(frozen=True)
class Family:
    """A parameterised problem type: its name, TeleMath category and generator function."""

    name: str
    category: str
    make: Callable[[random.Random, Difficulty], FamilyProblem]


def fmt(value: float) -> str:
    """Four significant figures, plain notation where readable, scientific for tiny values."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-3:
        return f"{value:.3e}"
    if magnitude >= 1e4:
        return f"{value:.0f}"
    digits = max(0, 3 - math.floor(math.log10(magnitude)))
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def pick(rng: random.Random, options: Sequence[T]) -> T:
    """Choose one option (wrapper so every family samples the same way)."""
    return options[rng.randrange(len(options))]


def uniform(rng: random.Random, low: float, high: float, decimals: int = 1) -> float:
    """A uniform draw rounded to ``decimals``, so questions show clean numbers."""
    return round(rng.uniform(low, high), decimals)


def boxed_line(value: float, unit: str) -> str:
    """The closing line every reference solution ends with."""
    suffix = f" {unit}" if unit else ""
    return f"Final answer: \\boxed{{{fmt(value)}}}{suffix}"


def solution_text(problem: FamilyProblem, solution_format: str = "steps") -> str:
    """Render the reference solution: numbered steps, then the boxed answer.

    ``oneshot`` writes the whole computation as one step where the family has that line;
    ``answer`` writes the boxed answer alone, as a model that answers without working would.
    """
    if solution_format == "answer":
        return boxed_line(problem.answer, problem.unit)
    steps = (
        (problem.oneshot,) if solution_format == "oneshot" and problem.oneshot else problem.steps
    )
    lines = [f"Step {index}: {step}" for index, step in enumerate(steps, start=1)]
    lines.append(boxed_line(problem.answer, problem.unit))
    return "\n".join(lines)

"""Scoring: is an answer right, and the pass@k, cons@k and interval arithmetic over many answers.

Everything here is pure: records in, numbers out. TeleMath answers are numeric and compared with a
relative tolerance; symbolic answers (MATH-style sets) go through math-verify.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.records import BenchResult, Problem, ScoredCompletion
from dta_edge.tasks.answers import candidate_values, extract_answer, read_quantity, too_long
from dta_edge.tasks.protocols import DEFAULT_PROTOCOL, ProtocolName

# Only an exact-zero reference uses an absolute bound: every other comparison is relative, so a
# noise power of 4e-14 W or a bit error rate of 1e-12 is never matched by 0 or by twice itself.
ZERO_TOL = 1e-12


class ScoreConfig(FrozenModel):
    """Recipe for `dta score`."""

    kind: Literal["score"] = "score"
    rel_tol: float = Field(
        default=0.01,
        gt=0,
        description="Relative tolerance when a problem sets none (TeleMath: 1%).",
    )
    k_values: tuple[int, ...] = Field(
        default=(1, 4, 16),
        description="k for pass@k and cons@k (skipped where fewer samples exist).",
    )
    protocol: ProtocolName = Field(
        default=DEFAULT_PROTOCOL,
        description="Which rule decides correctness: dta (ours) or telemath-reference (the "
        "public TeleMath scorer: last \\boxed{}, math.isclose rel 1% abs 0.01, else exact "
        "string). The other is reported beside it.",
    )


def values_match(predicted: float, reference: float, rel_tol: float) -> bool:
    """Relative comparison at any magnitude; only an exact-zero reference uses an absolute bound."""
    if not (math.isfinite(predicted) and math.isfinite(reference)):
        return False
    if reference == 0:
        return abs(predicted) <= ZERO_TOL
    return abs(predicted - reference) <= rel_tol * abs(reference)


def _timeout_s() -> int | None:
    """math-verify times out with SIGALRM, which only the main thread may use."""
    return 5 if threading.current_thread() is threading.main_thread() else None


def _symbolic_equal(predicted: str, reference: str) -> bool:
    from math_verify import parse, verify

    gold = parse(f"${reference}$", parsing_timeout=_timeout_s())
    answer = parse(f"${predicted}$", parsing_timeout=_timeout_s())
    return bool(gold and answer and verify(gold, answer, timeout_seconds=_timeout_s()))


def _symbolic_value(text: str) -> float | None:
    r"""Numeric value of a symbolic answer such as ``\sqrt{2}/2``, via math-verify's parser."""
    from math_verify import parse

    for expression in parse(f"${text}$", parsing_timeout=_timeout_s()):
        try:
            value = float(expression.evalf())
        except (TypeError, ValueError, AttributeError, OverflowError):
            continue
        return value if math.isfinite(value) else None
    return None


def score_text(
    text: str, problem: Problem, default_rel_tol: float = 0.01
) -> tuple[str | None, float | None, bool, str]:
    """Judge one model output against a problem.

    Returns:
        (extracted span, value in the reference unit or None, correct, reason).
    """
    extracted = extract_answer(text)
    if extracted is None:
        return None, None, False, "no answer found"
    if too_long(extracted):
        return extracted[:200], None, False, "the answer is too long to be a number or expression"
    if problem.answer is None:
        ok = _symbolic_equal(extracted, problem.answer_text)
        return extracted, None, ok, "symbolically equal" if ok else "symbolically different"
    tolerance = problem.rel_tol if problem.rel_tol is not None else default_rel_tol
    quantity, unrepresentable = read_quantity(extracted)
    if unrepresentable:
        return extracted, None, False, "the number is beyond what a float holds"
    if quantity is None:
        value = _symbolic_value(extracted)
        if value is None:
            return extracted, None, False, "answer is not a number"
        candidates = [value]
    else:
        candidates = candidate_values(quantity, problem.unit)
    if not candidates:
        return extracted, None, False, "answer is not a finite number"
    for value in candidates:
        if values_match(value, problem.answer, tolerance):
            return extracted, value, True, f"within {tolerance:.2%} of {problem.answer:g}"
    return (
        extracted,
        candidates[0],
        False,
        f"{candidates[0]:g} is not within {tolerance:.2%} of {problem.answer:g}",
    )


def score_completion(
    problem: Problem,
    sample_index: int,
    text: str,
    default_rel_tol: float = 0.01,
    protocol: ProtocolName = DEFAULT_PROTOCOL,
) -> ScoredCompletion:
    """Score one sample into a record: ``protocol`` decides, every protocol's verdict is kept."""
    from dta_edge.tasks.protocols import judge, verdicts

    extracted, value, correct, reason = judge(protocol, text, problem, default_rel_tol)
    return ScoredCompletion(
        problem_id=problem.id,
        sample_index=sample_index,
        extracted=extracted,
        value=value,
        correct=correct,
        reason=reason,
        verdicts=verdicts(text, problem, default_rel_tol),
    )


def pass_at_1_by_protocol(
    groups: Iterable[Sequence[ScoredCompletion | BenchResult]],
) -> dict[str, float]:
    """pass@1 (mean over samples, then problems) under each protocol every sample was judged by.

    Records written before protocols existed carry no verdicts: then the answer is empty.
    """
    problems = [list(group) for group in groups if group]
    samples = [s for group in problems for s in group]
    if not samples:
        return {}
    names = set.intersection(*(set(s.verdicts) for s in samples))
    return {
        name: sum(sum(s.verdicts[name] for s in g) / len(g) for g in problems) / len(problems)
        for name in sorted(names)
    }


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    # Product form avoids huge binomials: prod_{i=n-c+1}^{n} (1 - k/i).
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def wilson_interval(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At p = 0 or 1 the bound is exactly 0 or 1; say so rather than trust rounding.
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def majority_vote(
    samples: Sequence[ScoredCompletion], rel_tol: float = 0.01
) -> ScoredCompletion | None:
    """The answer most samples agree on (cons@k / maj@k).

    Numeric answers within ``rel_tol`` of a group's first member join that group; other answers
    group by their text. Ties go to the group whose first member has the lowest sample index, so
    the vote is deterministic. Samples without an answer do not vote.
    """
    groups: list[list[ScoredCompletion]] = []
    for sample in sorted(samples, key=lambda s: s.sample_index):
        if sample.extracted is None:
            continue
        for group in groups:
            head = group[0]
            if sample.value is not None and head.value is not None:
                same = values_match(sample.value, head.value, rel_tol)
            else:
                same = sample.extracted.strip() == head.extracted.strip()  # type: ignore[union-attr]
            if same:
                group.append(sample)
                break
        else:
            groups.append([sample])
    if not groups:
        return None
    best = max(groups, key=lambda g: (len(g), -g[0].sample_index))
    return best[0]


class ScoreSummary(FrozenModel):
    """Aggregate accuracy of one set of scored samples (`dta score run`'s summary.json)."""

    schema_version: Literal[1] = 1
    protocol: str = Field(default=DEFAULT_PROTOCOL, description="The protocol pass@1 is under.")
    problems: int
    samples: int
    samples_per_problem: int
    answered_rate: float = Field(description="Share of samples with an extractable answer.")
    pass_at_1: float
    pass_at_1_by_protocol: dict[str, float] = Field(
        default_factory=dict, description="pass@1 under every protocol, side by side."
    )
    pass_at_1_ci95: tuple[float, float]
    pass_at_k: dict[str, float]
    cons_at_k: dict[str, float]
    by_category: dict[str, float]
    by_difficulty: dict[str, float]
    by_family: dict[str, float]


def summarize(
    scored: Iterable[ScoredCompletion],
    problems: Mapping[str, Problem],
    k_values: Sequence[int] = (1, 4, 16),
    rel_tol: float = 0.01,
    protocol: str = DEFAULT_PROTOCOL,
) -> ScoreSummary:
    """pass@1 (mean over samples, then problems), pass@k, cons@k, and breakdowns."""
    by_problem: dict[str, list[ScoredCompletion]] = defaultdict(list)
    for record in scored:
        by_problem[record.problem_id].append(record)
    if not by_problem:
        raise ValueError("nothing to summarize: no scored samples")
    per_problem = {
        pid: sum(s.correct for s in items) / len(items) for pid, items in by_problem.items()
    }
    n_min = min(len(items) for items in by_problem.values())
    total = sum(len(items) for items in by_problem.values())
    answered = sum(s.extracted is not None for items in by_problem.values() for s in items)
    pass1 = sum(per_problem.values()) / len(per_problem)
    pass_k: dict[str, float] = {}
    cons_k: dict[str, float] = {}
    for k in k_values:
        if k > n_min:
            continue
        pass_k[str(k)] = sum(
            pass_at_k(len(items), sum(s.correct for s in items), k) for items in by_problem.values()
        ) / len(by_problem)
        votes = [
            majority_vote(sorted(items, key=lambda s: s.sample_index)[:k], rel_tol)
            for items in by_problem.values()
        ]
        cons_k[str(k)] = sum(v is not None and v.correct for v in votes) / len(votes)

    def breakdown(attribute: str) -> dict[str, float]:
        groups: dict[str, list[float]] = defaultdict(list)
        for pid, score in per_problem.items():
            label = getattr(problems.get(pid), attribute, None) or "unknown"
            groups[label].append(score)
        return {label: sum(v) / len(v) for label, v in sorted(groups.items())}

    return ScoreSummary(
        protocol=protocol,
        pass_at_1_by_protocol=pass_at_1_by_protocol(by_problem.values()),
        problems=len(by_problem),
        samples=total,
        samples_per_problem=n_min,
        answered_rate=answered / total,
        pass_at_1=pass1,
        pass_at_1_ci95=wilson_interval(pass1 * len(per_problem), len(per_problem)),
        pass_at_k=pass_k,
        cons_at_k=cons_k,
        by_category=breakdown("category"),
        by_difficulty=breakdown("difficulty"),
        by_family=breakdown("family"),
    )

"""Paired comparison of two systems scored on the same problems.

Two pass@1 figures with overlapping 95% intervals can still differ reliably, because both were
measured on the same problems: what matters is how often one is right where the other is wrong.
The bootstrap resamples problems (not answers) and keeps the pairs together; McNemar's exact test
looks only at the discordant problems.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dta_edge.config import FrozenModel


class PairedDifference(FrozenModel):
    """A minus B over the problems both answered, in points, with its paired 95% interval."""

    problems: int
    points: float
    low: float
    high: float
    a_only: int  # problems only A solved (score 1 vs 0)
    b_only: int
    p_value: float | None  # McNemar exact, two-sided; None when scores are not all 0 or 1


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_difference(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> PairedDifference | None:
    """Per-problem scores (0..1, e.g. a share of correct samples) of A and B -> A - B in points.

    Returns None when the two share no problem. The interval is the 2.5th-97.5th percentile of a
    seeded bootstrap over the shared problems, so a report is reproducible.
    """
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    import numpy as np

    diffs = np.array([a[key] - b[key] for key in shared], dtype=float)
    n = len(diffs)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    low, high = np.quantile(diffs[picks].mean(axis=1), [0.025, 0.975])
    binary = all(a[key] in (0.0, 1.0) and b[key] in (0.0, 1.0) for key in shared)
    a_only = sum(1 for key in shared if a[key] > b[key])
    b_only = sum(1 for key in shared if b[key] > a[key])
    return PairedDifference(
        problems=n,
        points=100 * float(diffs.mean()),
        low=100 * float(low),
        high=100 * float(high),
        a_only=a_only,
        b_only=b_only,
        p_value=mcnemar_exact_p(a_only, b_only) if binary else None,
    )


class SeededDifference(FrozenModel):
    """A minus B pooled over training seeds, in points, with a seeds-and-problems 95% interval."""

    seeds_a: int
    seeds_b: int
    problems: int
    points: float
    low: float
    high: float


def _on_shared_problems(runs: Sequence[Mapping[str, float]]):
    """Every run's scores on the problems all of them share, as a (runs x problems) array."""
    import numpy as np

    shared = sorted(set.intersection(*(set(run) for run in runs)))
    table = np.array([[run[key] for key in shared] for run in runs], dtype=float)
    return table.reshape(len(runs), len(shared))


def seeded_difference(
    a: Sequence[Mapping[str, float]],
    b: Sequence[Mapping[str, float]],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> SeededDifference | None:
    """A and B each trained with several seeds, every seed scored on the same problems.

    One training run is one draw: the spread between seeds is variance a single-seed paired
    interval never sees. The hierarchical bootstrap resamples both levels, seeds of each arm
    and then problems (one problem draw shared by both arms, so the pairing is kept), and takes
    the difference of the pooled means. Returns None without a shared problem or a seed.
    """
    if not a or not b:
        return None
    table = _on_shared_problems([*a, *b])  # one problem set for both arms keeps the pairing
    scores_a, scores_b = table[: len(a)], table[len(a) :]
    if not table.shape[1]:
        return None
    import numpy as np

    rng = np.random.default_rng(seed)
    n = scores_a.shape[1]
    draws = np.empty(resamples)
    for i in range(resamples):
        problems = rng.integers(0, n, size=n)
        runs_a = scores_a[rng.integers(0, len(a), size=len(a))][:, problems]
        runs_b = scores_b[rng.integers(0, len(b), size=len(b))][:, problems]
        draws[i] = runs_a.mean() - runs_b.mean()
    low, high = np.quantile(draws, [0.025, 0.975])
    return SeededDifference(
        seeds_a=len(a), seeds_b=len(b), problems=n,
        points=100 * float(scores_a.mean() - scores_b.mean()),
        low=100 * float(low), high=100 * float(high),
    )  # fmt: skip


def seeded_mean(
    runs: Sequence[Mapping[str, float]], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float] | None:
    """One arm's pass@1 pooled over its seeds, in points, with a seeds-then-problems interval."""
    if not runs:
        return None
    scores = _on_shared_problems(runs)
    if not scores.shape[1]:
        return None
    import numpy as np

    rng = np.random.default_rng(seed)
    n = scores.shape[1]
    draws = [
        scores[rng.integers(0, len(runs), size=len(runs))][:, rng.integers(0, n, size=n)].mean()
        for _ in range(resamples)
    ]
    low, high = np.quantile(draws, [0.025, 0.975])
    return 100 * float(scores.mean()), 100 * float(low), 100 * float(high)

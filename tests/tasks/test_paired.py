"""Paired comparisons: bootstrap interval over shared problems and McNemar's exact test."""

from __future__ import annotations

import math
import random

import pytest

from dta_edge.tasks.paired import mcnemar_exact_p, paired_difference


def test_mcnemar_matches_the_binomial_test() -> None:
    # 2 vs 10 discordant pairs: two-sided binomial(12, 0.5) tail
    tail = sum(math.comb(12, i) for i in range(3)) / 2**12
    assert mcnemar_exact_p(2, 10) == pytest.approx(2 * tail)
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(5, 5) == 1.0


def test_identical_systems_differ_by_nothing() -> None:
    scores = {f"p{i}": float(i % 3 == 0) for i in range(90)}
    result = paired_difference(scores, scores)
    assert result is not None
    assert (result.points, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_consistent_gain_has_an_interval_above_zero() -> None:
    # A solves everything B solves plus 40 more of 200: +20 points, all discordance one way
    b = {f"p{i}": float(i < 60) for i in range(200)}
    a = {f"p{i}": float(i < 100) for i in range(200)}
    result = paired_difference(a, b)
    assert result is not None
    assert result.points == pytest.approx(20.0)
    assert 14 < result.low < 20 < result.high < 26
    assert (result.a_only, result.b_only) == (40, 0)
    assert result.p_value is not None and result.p_value < 1e-9


def test_only_shared_problems_count_and_fractions_skip_mcnemar() -> None:
    a = {"x": 0.5, "y": 1.0, "only-a": 1.0}
    b = {"x": 0.0, "y": 1.0, "only-b": 0.0}
    result = paired_difference(a, b)
    assert result is not None and result.problems == 2
    assert result.points == pytest.approx(25.0)
    assert result.p_value is None  # k-sample shares are not 0/1 outcomes
    assert paired_difference({"x": 1.0}, {"y": 1.0}) is None


def test_the_interval_is_reproducible() -> None:
    a = {f"p{i}": float(i % 2 == 0) for i in range(50)}
    b = {f"p{i}": float(i % 3 == 0) for i in range(50)}
    assert paired_difference(a, b) == paired_difference(a, b)


def test_the_seeded_interval_widens_with_the_spread_between_seeds():
    from dta_edge.tasks.paired import seeded_difference

    problems = [f"p{i}" for i in range(200)]
    rng = random.Random(3)

    def run(share: float) -> dict[str, float]:
        return {key: float(rng.random() < share) for key in problems}

    steady = seeded_difference([run(0.5)] * 3, [run(0.4)] * 3)
    spread = seeded_difference([run(0.3), run(0.5), run(0.7)], [run(0.4)] * 3)
    assert steady is not None and spread is not None
    assert (steady.seeds_a, steady.problems) == (3, 200)
    assert spread.high - spread.low > 1.5 * (steady.high - steady.low)
    assert steady.low <= steady.points <= steady.high
    assert seeded_difference([], [run(0.5)]) is None
    assert seeded_difference([{"x": 1.0}], [{"y": 1.0}]) is None

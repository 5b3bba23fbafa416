"""pass@k, cons@k, Wilson intervals and summaries: pure arithmetic on constructed cases."""

import math
from itertools import combinations

import pytest

from dta_edge.records import Problem, ScoredCompletion
from dta_edge.tasks.scoring import majority_vote, pass_at_k, summarize, wilson_interval


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that a random k-subset of n samples (c correct) holds a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(
    ("n", "c", "k"),
    [(5, 0, 1), (5, 1, 1), (5, 2, 3), (8, 3, 4), (10, 9, 2), (6, 6, 6), (16, 4, 16)],
)
def test_pass_at_k_matches_brute_force(n, c, k):
    assert math.isclose(
        pass_at_k(n, c, k), brute_force_pass_at_k(n, c, k), rel_tol=1e-12, abs_tol=1e-12
    )


def test_pass_at_1_is_fraction_correct():
    assert math.isclose(pass_at_k(16, 4, 1), 0.25)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 2, 5)


def test_wilson_interval_reference_values():
    # Newcombe (1998), Stat. Med. 17: 81/263 -> (0.2553, 0.3662) by the Wilson score method.
    low, high = wilson_interval(81, 263)
    assert math.isclose(low, 0.2553, abs_tol=5e-4) and math.isclose(high, 0.3662, abs_tol=5e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def scored(
    pid: str, index: int, value: float | None, correct: bool, text: str | None = None
) -> ScoredCompletion:
    extracted = text if text is not None else (None if value is None else f"{value}")
    return ScoredCompletion(
        problem_id=pid,
        sample_index=index,
        extracted=extracted,
        value=value,
        correct=correct,
        reason="",
    )


def test_majority_vote_picks_largest_numeric_cluster():
    samples = [
        scored("p", 0, 1.0, False),
        scored("p", 1, 2.0, True),
        scored("p", 2, 2.005, True),
        scored("p", 3, None, False),
    ]
    assert majority_vote(samples).value == 2.0


def test_majority_vote_tie_goes_to_earliest_sample():
    samples = [
        scored("p", 1, 5.0, True),
        scored("p", 0, 3.0, False),
        scored("p", 2, 5.0, True),
        scored("p", 3, 3.0, False),
    ]
    assert majority_vote(samples).value == 3.0  # both groups have 2; sample 0 came first


def test_majority_vote_groups_symbolic_answers_by_text_and_ignores_unanswered():
    samples = [
        scored("p", 0, None, True, "x+1"),
        scored("p", 1, None, False, "x"),
        scored("p", 2, None, True, "x+1"),
    ]
    assert majority_vote(samples).extracted == "x+1"
    assert majority_vote([scored("p", 0, None, False)]) is None


def test_summarize_pass_and_cons():
    problems = {
        "a": Problem(
            id="a",
            source="t",
            category="Signal Processing",
            difficulty="basic",
            question="q",
            answer=1,
            answer_text="1",
        ),
        "b": Problem(
            id="b",
            source="t",
            category="Information Theory",
            difficulty="advanced",
            question="q",
            answer=2,
            answer_text="2",
        ),
    }
    records = [
        # a: 3 of 4 right, majority right
        scored("a", 0, 1.0, True), scored("a", 1, 1.0, True),
        scored("a", 2, 9.0, False), scored("a", 3, 1.0, True),
        # b: 1 of 4 right, majority wrong
        scored("b", 0, 5.0, False), scored("b", 1, 5.0, False),
        scored("b", 2, 2.0, True), scored("b", 3, None, False),
    ]  # fmt: skip
    summary = summarize(records, problems, k_values=(1, 4, 16))
    assert summary.problems == 2 and summary.samples == 8 and summary.samples_per_problem == 4
    assert math.isclose(summary.pass_at_1, (0.75 + 0.25) / 2)
    assert math.isclose(summary.pass_at_k["4"], 1.0)
    assert math.isclose(summary.cons_at_k["4"], 0.5)
    assert math.isclose(summary.cons_at_k["1"], 0.5)  # the first sample alone: a right, b wrong
    assert "16" not in summary.pass_at_k  # fewer than 16 samples: not reported
    assert math.isclose(summary.answered_rate, 7 / 8)
    assert summary.by_difficulty == {"advanced": 0.25, "basic": 0.75}
    low, high = summary.pass_at_1_ci95
    assert low < summary.pass_at_1 < high


def test_summarize_rejects_empty():
    with pytest.raises(ValueError):
        summarize([], {})

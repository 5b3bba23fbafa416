"""The telecom problem generator: coverage, determinism, and self-consistent reference solutions."""

import collections
import math

import pytest

from dta_edge.records import Problem
from dta_edge.storage import read_jsonl
from dta_edge.tasks.generator import ProblemsConfig, generate_problems, write_problems
from dta_edge.tasks.scoring import score_text
from dta_edge.tasks.telecom import CATEGORIES, FAMILIES

from ..conftest import run_dta


def test_at_least_14_families_over_all_7_categories():
    assert len(FAMILIES) >= 14
    assert {family.category for family in FAMILIES.values()} == set(CATEGORIES)
    assert len(CATEGORIES) == 7


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("level", ["basic", "advanced"])
def test_reference_solution_scores_correct_against_its_own_answer(family, level):
    """The boxed line of every reference solution must be graded correct: the generator's text and
    numbers agree, and the scorer reads what the generator writes."""
    problems = list(
        generate_problems(ProblemsConfig(n=30, seed=11, families=(family,), difficulty=level))
    )
    for problem in problems:
        assert problem.family == family and problem.difficulty == level
        assert problem.answer is not None and math.isfinite(problem.answer)
        assert problem.solution and problem.solution.splitlines()[-1].startswith(
            "Final answer: \\boxed{"
        )
        _, value, correct, reason = score_text(problem.solution, problem)
        assert correct, f"{problem.id}: {reason}\n{problem.question}\n{problem.solution}"


def test_fields_of_every_record():
    for problem in generate_problems(ProblemsConfig(n=100, seed=5)):
        assert problem.category in CATEGORIES
        assert problem.question.endswith("?")
        assert problem.rel_tol is not None and 0 < problem.rel_tol <= 0.05
        assert problem.method
        assert problem.source == "telecom-generator"


def test_mixed_difficulty_has_both_tiers_and_balanced_families():
    n = 20 * len(FAMILIES)
    problems = list(generate_problems(ProblemsConfig(n=n, seed=2)))
    tiers = collections.Counter(p.difficulty for p in problems)
    assert 0.25 < tiers["advanced"] / len(problems) < 0.55
    per_family = collections.Counter(p.family for p in problems)
    assert set(per_family.values()) == {20}


def test_same_seed_same_bytes_different_seed_different_bytes(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    write_problems(ProblemsConfig(n=300, seed=42), a)
    write_problems(ProblemsConfig(n=300, seed=42), b)
    write_problems(ProblemsConfig(n=300, seed=43), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_prefix_stability_when_n_grows():
    short = list(generate_problems(ProblemsConfig(n=50, seed=9)))
    long = list(generate_problems(ProblemsConfig(n=120, seed=9)))
    assert long[:50] == short


def test_ids_unique():
    ids = [p.id for p in generate_problems(ProblemsConfig(n=1000, seed=1))]
    assert len(set(ids)) == len(ids)


def test_cli_generate_is_byte_identical_and_writes_run_json(tmp_path):
    first = run_dta(
        "problems", "generate", "--n", "60", "--seed", "7", "--out", str(tmp_path / "one.jsonl")
    )
    second = run_dta(
        "problems", "generate", "--n", "60", "--seed", "7", "--out", str(tmp_path / "run")
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (tmp_path / "one.jsonl").read_bytes() == (
        tmp_path / "run" / "problems.jsonl"
    ).read_bytes()
    assert len(read_jsonl(tmp_path / "one.jsonl", Problem)) == 60
    assert (tmp_path / "run" / "run.json").exists()


def test_cli_family_and_difficulty_filters(tmp_path):
    out = tmp_path / "p.jsonl"
    result = run_dta(
        "problems",
        "generate",
        "--n",
        "10",
        "--families",
        "erlang-b,mm1-delay",
        "--difficulty",
        "basic",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    problems = read_jsonl(out, Problem)
    assert {p.family for p in problems} == {"erlang-b", "mm1-delay"}
    assert {p.difficulty for p in problems} == {"basic"}
    bad = run_dta("problems", "generate", "--n", "10", "--families", "nope", "--out", str(out))
    assert bad.returncode == 2 and "unknown families ['nope']" in bad.stderr

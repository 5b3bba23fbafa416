"""The generator's demo tier: small-integer problems over every category, held out by text."""

from __future__ import annotations

import re

import pytest

from dta_edge.tasks.generator import (
    DEMO_HELD_OUT,
    ProblemsConfig,
    demo_held_out,
    demo_training_problems,
    generate_problems,
)
from dta_edge.tasks.scoring import score_text
from dta_edge.tasks.telecom import CATEGORIES, DEMO_FAMILIES, FAMILIES


def test_one_demo_family_per_category_and_apart_from_the_standard_tier() -> None:
    assert {family.category for family in DEMO_FAMILIES.values()} == set(CATEGORIES)
    assert not set(DEMO_FAMILIES) & set(FAMILIES)
    with pytest.raises(ValueError, match="unknown families"):
        ProblemsConfig(families=("demo-eirp",))
    ProblemsConfig(families=("demo-eirp",), tier="demo")


@pytest.mark.parametrize("solution_format", ["steps", "oneshot", "answer"])
def test_every_solution_format_scores_correct_with_small_non_negative_integers(
    solution_format: str,
) -> None:
    config = ProblemsConfig(n=140, seed=5, tier="demo", advanced_fraction=0.5,
                            solution_format=solution_format)  # fmt: skip
    for problem in generate_problems(config):
        assert problem.answer is not None and problem.answer == int(problem.answer) >= 0
        _, _, correct, reason = score_text(problem.solution or "", problem)
        assert correct, f"{problem.id}: {reason}\n{problem.solution}"
        steps = re.findall(r"^Step \d+:", problem.solution or "", re.MULTILINE)
        expected = {"oneshot": 1, "answer": 0}.get(
            solution_format, 1 if problem.difficulty == "basic" else 2
        )
        assert len(steps) == expected, problem.solution


def test_steps_hold_one_two_operand_operation_each() -> None:
    config = ProblemsConfig(n=70, seed=9, tier="demo", difficulty="advanced")
    for problem in generate_problems(config):
        for line in (problem.solution or "").splitlines()[:-1]:
            plain = re.sub(r"log2\([^)]*\)", "L", line)  # a lookup, not arithmetic
            arithmetic = plain.rsplit("=", 2)[-2]  # the operands just before the result
            assert len(re.findall(r"[-+*/]", arithmetic)) <= 1, line


def test_training_problems_never_hold_a_held_out_question() -> None:
    held_out = demo_held_out(DEMO_HELD_OUT.n)
    assert len({p.id for p in held_out}) == DEMO_HELD_OUT.n
    assert len({p.family for p in held_out}) == len(DEMO_FAMILIES)
    questions = {p.question for p in held_out}
    training = list(demo_training_problems(ProblemsConfig(n=3000, seed=1, tier="demo")))
    assert training and not questions & {p.question for p in training}
    assert not {p.id for p in held_out} & {p.id for p in training}
    with pytest.raises(ValueError, match="holds out"):
        demo_held_out(DEMO_HELD_OUT.n + 1)


def test_cli_writes_the_demo_tier(tmp_path) -> None:
    from dta_edge.records import Problem
    from dta_edge.storage import read_jsonl

    from ..conftest import run_dta

    out = tmp_path / "demo.jsonl"
    result = run_dta("problems", "generate", "--n", "14", "--tier", "demo",
                     "--solution-format", "oneshot", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    problems = read_jsonl(out, Problem)
    assert {p.family for p in problems} == set(DEMO_FAMILIES)
    assert all((p.solution or "").count("Step ") == 1 for p in problems)

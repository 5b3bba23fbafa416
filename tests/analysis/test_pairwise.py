"""Pairwise judging: both orders cancel position bias; identical runs split evenly; resume."""

import json

import pytest

from dta_edge.analysis.pairwise import (
    PairwiseVerdict,
    combine,
    read_answers,
    run_pairwise,
)
from dta_edge.backends.base import Generation
from dta_edge.layout import PAIRWISE_VERDICTS
from dta_edge.records import BenchResult, Problem
from dta_edge.storage import read_jsonl, write_jsonl
from dta_edge.tasks.generator import ProblemsConfig, generate_problems

from ..conftest import run_dta


class ScriptedJudge:
    """A judge whose policy is a function of the prompt (the Generator protocol, no model)."""

    name = "scripted"

    def __init__(self, policy):
        self.policy = policy
        self.prompts = []

    def generate(self, request):
        prompt = request.messages[-1].content
        self.prompts.append(prompt)
        text = json.dumps({"reason": "scripted", "winner": self.policy(prompt)})
        return [Generation(text=text, prompt_tokens=1, output_tokens=1, ttft_s=0.0, e2e_s=0.0)]

    def close(self):
        pass


def bench_run(folder, system, problems, answer_for):
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "problems.jsonl", problems)
    write_jsonl(folder / "results.jsonl", [
        BenchResult(system=system, problem_id=p.id, sample_index=0, text=answer_for(p),
                    extracted=None, correct=answer_for(p).endswith(p.answer_text))
        for p in problems
    ])  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def problems():
    return list(generate_problems(ProblemsConfig(n=6, seed=5)))


def right(p):
    return f"so the answer is {p.answer_text}"


def wrong(_p):
    return "so the answer is 12345"


def test_verdicts_of_both_orders_are_summed():
    v = lambda pid, order, shown, winner: PairwiseVerdict(  # noqa: E731
        problem_id=pid, order=order, winner_shown=shown, winner=winner
    )
    result = combine([
        v("p1", "ab", "A", "a"), v("p1", "ba", "B", "a"),  # consistent: a wins
        v("p2", "ab", "A", "a"), v("p2", "ba", "A", "b"),  # position bias: tie
        v("p3", "ab", "tie", "tie"), v("p3", "ba", "A", "b"),  # one tie, one b: b wins
        v("p4", "ab", "A", "a"),  # only one order judged: not counted
    ])  # fmt: skip
    assert result["outcomes"] == {"p1": "a", "p2": "tie", "p3": "b"}
    assert (result["a_wins"]["count"], result["ties"]["count"], result["b_wins"]["count"]) == (
        1, 1, 1)  # fmt: skip
    assert result["failed"] == 1
    assert result["position_consistency"] == pytest.approx(1 / 3)
    low, high = result["a_wins"]["ci95"]
    assert low < 1 / 3 < high


def test_a_judge_that_always_prefers_the_first_answer_yields_ties(problems, tmp_path):
    a = read_answers(bench_run(tmp_path / "a", "A", problems, right), None)
    b = read_answers(bench_run(tmp_path / "b", "B", problems, wrong), None)
    path = run_pairwise(ScriptedJudge(lambda _: "A"), "first", problems, a, b, tmp_path / "o")
    result = json.loads(path.read_text())
    assert result["ties"]["count"] == len(problems) and result["a_wins"]["count"] == 0
    assert result["first_position_preference"] == 1.0
    assert result["position_consistency"] == 0.0


def test_a_judge_that_checks_the_reference_finds_the_better_run(problems, tmp_path):
    a = read_answers(bench_run(tmp_path / "a", "A", problems, right), None)
    b = read_answers(bench_run(tmp_path / "b", "B", problems, wrong), None)

    def picks_reference(prompt):
        reference = prompt.split("Reference final answer: ")[1].split("\n")[0]
        first = prompt.split("Answer A:")[1].split("Answer B:")[0]
        return "A" if reference in first else "B"

    judge = ScriptedJudge(picks_reference)
    path = run_pairwise(judge, "ref", problems, a, b, tmp_path / "o")
    result = json.loads(path.read_text())
    assert result["a_wins"]["count"] == len(problems)
    assert result["position_consistency"] == 1.0
    assert result["reference_agreement"]["rate"] == 1.0
    assert len(judge.prompts) == 2 * len(problems)
    # resume: a second run asks nothing and adds no verdict
    again = ScriptedJudge(picks_reference)
    run_pairwise(again, "ref", problems, a, b, tmp_path / "o")
    assert again.prompts == []
    assert len(read_jsonl(tmp_path / "o" / PAIRWISE_VERDICTS, PairwiseVerdict)) == 2 * len(problems)


def test_real_judge_on_identical_runs_splits_evenly(problems, tiny_gguf_f32, tmp_path):
    run_a = bench_run(tmp_path / "a", "same-a", problems, right)
    run_b = bench_run(tmp_path / "b", "same-b", problems, right)
    out = tmp_path / "o"
    result = run_dta("analyze", "pairwise", "--a", str(run_a), "--b", str(run_b),
                     "--judge", "llama-cpp", "--judge-model", str(tiny_gguf_f32),
                     "--judge-option", "n_threads=2", "--max-tokens", "64",
                     "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads((out / "pairwise.json").read_text())
    # identical answers: the same prompt in both orders, so any pick cancels out
    assert payload["problems_judged"] == len(problems) and payload["failed"] == 0
    assert payload["a_wins"]["count"] == payload["b_wins"]["count"] == 0
    assert (out / "pairwise.png").stat().st_size > 1000
    verdicts = read_jsonl(out / PAIRWISE_VERDICTS, PairwiseVerdict)
    assert {v.order for v in verdicts} == {"ab", "ba"}


def test_replies_cut_short_still_count_and_garbage_does_not():
    from dta_edge.analysis.pairwise import parse_winner

    assert parse_winner('{"winner": "B", "reason": "shorter"}') == ("B", "shorter")
    assert parse_winner('```json\n{"winner": "a", "reason": "x"}\n```')[0] == "A"
    assert parse_winner('{"winner": "tie", "reason": "both wro')[0] == "tie"
    for bad in ('{"winner": "C", "reason": ""}', "A is better", '{"reason": "x"}'):
        with pytest.raises(ValueError):
            parse_winner(bad)


def test_unknown_system_is_named(problems, tmp_path):
    run = bench_run(tmp_path / "a", "dta", problems, right)
    result = run_dta("analyze", "pairwise", "--a", str(run), "--b", str(run), "--b-system", "x",
                     "--judge", "llama-cpp", "--judge-model", "none.gguf")  # fmt: skip
    assert result.returncode == 2
    assert "no system 'x'" in result.stderr and "results.jsonl" in result.stderr


def test_olympiadbench_rows_load(tmp_path):
    from dta_edge.tasks.loaders import PRESETS, load_problems, read_rows

    path = tmp_path / "olympiad.jsonl"
    path.write_text(json.dumps({"id": 7, "subfield": "Algebra", "question": "Find x.",
                                "solution": ["Step one.", "Step two."], "final_answer": ["$3$"],
                                "unit": None}) + "\n")  # fmt: skip
    (problem,) = load_problems(read_rows(path), PRESETS["olympiadbench"])
    assert isinstance(problem, Problem)
    assert (problem.id, problem.answer_text, problem.category) == ("7", "3", "Algebra")
    assert problem.solution == "Step one.\n\nStep two."

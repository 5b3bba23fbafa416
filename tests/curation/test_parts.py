"""Curation parts: reference teacher, agreement, NLL scorer, judge parsing and reflection."""

import json

import pytest

from dta_edge.curation.agreement import agreement_levels
from dta_edge.curation.judge import ReflectionJudge, RuleJudge, parse_verdict, verdict_record
from dta_edge.curation.nll import LlamaCppNll, TransformersNll
from dta_edge.curation.recipe import AgreementSpec, JudgeSpec
from dta_edge.curation.reference_teacher import reference_samples, restyle, styled_solution
from dta_edge.records import AlignedCandidate, Candidate
from dta_edge.tasks.generator import ProblemsConfig, generate_problems
from dta_edge.tasks.scoring import score_text

from ..backends.fault_server import FaultServer

PROBLEMS = list(generate_problems(ProblemsConfig(n=30, seed=21)))


def test_reference_styles_differ_and_keep_the_answer():
    for problem in PROBLEMS[:10]:
        texts = {style: styled_solution(problem, style)
                 for style in ("steps", "formula-first", "narrative", "terse")}  # fmt: skip
        assert len(set(texts.values())) == 4, problem.id
        for style, text in texts.items():
            assert score_text(text, problem)[2], (problem.id, style)
            assert score_text(restyle(text), problem)[2], (problem.id, style)
            assert restyle(text).startswith("Step 1: ")


def test_reference_teacher_injects_labelled_wrong_answers():
    drawn = [(p, s) for p in PROBLEMS for s in reference_samples(p, 4, ("steps",), 0.25, seed=1)]
    wrong = [(p, text) for p, (text, synthetic) in drawn if synthetic]
    assert 0.15 < len(wrong) / len(drawn) < 0.35
    for problem, text in wrong:
        assert not score_text(text, problem)[2]  # made wrong beyond the tolerance
    samples = [s for _, s in drawn]
    again = [s for p in PROBLEMS for s in reference_samples(p, 4, ("steps",), 0.25, seed=1)]
    assert again == samples  # seeded


def cand(teacher, index, answer, correct=None):
    return Candidate(problem_id="p", teacher=teacher, sample_index=index, text="",
                     extracted_answer=None if answer is None else str(answer),
                     value=answer, correct=correct)  # fmt: skip


def test_agreement_with_and_without_reference():
    problem = PROBLEMS[0]
    graded = [cand("a", 0, 1.0, True), cand("b", 0, 2.0, False)]
    assert agreement_levels(problem, graded, AgreementSpec()) == {"p#a#0": 1.0}
    unknown = problem.model_copy(update={"answer": None, "answer_text": ""})
    votes = [cand("a", 0, 10.0), cand("b", 0, 10.05), cand("c", 0, 12.0), cand("d", 0, None)]
    levels = agreement_levels(unknown, votes, AgreementSpec(rel_tol=0.01, min_ratio=0.5))
    assert levels == {"p#a#0": pytest.approx(2 / 3), "p#b#0": pytest.approx(2 / 3)}
    assert agreement_levels(unknown, votes, AgreementSpec(min_ratio=0.7)) == {}
    tie = [cand("a", 0, 1.0), cand("b", 0, 2.0)]
    assert agreement_levels(unknown, tie, AgreementSpec(min_ratio=0.5)) == {}


def test_student_nll_batched_equals_single_and_matches_llama_cpp(tiny_model_dir, tiny_gguf_f32):
    pairs = [(p.question, p.solution) for p in PROBLEMS[:5]]
    pairs.append((PROBLEMS[0].question, "banana the quick brown fox jumps"))
    batched = TransformersNll(str(tiny_model_dir), "cpu", batch_size=4).nll_per_token(pairs)
    single = TransformersNll(str(tiny_model_dir), "cpu", batch_size=1).nll_per_token(pairs)
    llama = LlamaCppNll(str(tiny_gguf_f32)).nll_per_token(pairs)
    assert batched == pytest.approx(single, abs=1e-5)
    assert llama == pytest.approx(batched, abs=1e-3)
    assert batched[-1] > 3 * max(batched[:-1])  # nonsense is far less likely for the student


def test_parse_verdict():
    good = '```json\n{"correct": true, "step_errors": [], "score": 8, "rationale": "ok"}\n```'
    assert parse_verdict(good)["score"] == 8
    for bad, message in (("no json", "no JSON"), ('{"correct": true}', "missing keys"),
                         ('{"correct": "yes", "step_errors": [], "score": 5, "rationale": ""}',
                          "correct"),
                         ('{"correct": true, "step_errors": [], "score": 11, "rationale": ""}',
                          "score")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_verdict(bad)


def verdict(correct, score):
    return json.dumps({"correct": correct, "step_errors": [], "score": score, "rationale": "r"})


ITEM = AlignedCandidate(
    problem_id="p", teacher="t", sample_index=0, original="o", rewrite="r", agreement=1.0,
    nll_before=1.0, nll_after=0.5, kept=True, reason="",
)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("replies", "accepted", "reason"),
    [
        ([verdict(True, 8), verdict(True, 9)], True, "judge: correct, score 9"),
        ([verdict(True, 8), verdict(False, 2)], False, "incorrect after reflection (reflection"),
        (["garbage", verdict(True, 8), verdict(True, 4)], False, "score 4 below 6"),
        (["garbage", "{broken"], False, "first verdict: malformed JSON after 2 tries"),
    ],
)
def test_reflection_judge_over_a_server(replies, accepted, reason):
    from dta_edge.backends.registry import create_generator

    server = FaultServer([], replies=replies)
    try:
        generator = create_generator("openai", "judge", {"base_url": server.base_url})
        spec = JudgeSpec(retries=1, min_score=6)
        outcome = ReflectionJudge(generator, spec).judge(PROBLEMS[0], PROBLEMS[0].solution)
        record = verdict_record(ITEM, spec, outcome)
    finally:
        server.close()
    assert record.accepted is accepted and reason in record.reason
    if len(server.bodies) >= 2 and record.reflected is not None:
        second = server.bodies[-1]["messages"]
        assert [m["role"] for m in second] == ["user", "assistant", "user"]  # its own verdict
        assert json.loads(second[1]["content"])["score"] == 8
    assert server.bodies[0]["response_format"]["type"] == "json_schema"


def test_rule_judge_catches_right_answer_wrong_steps():
    problem = PROBLEMS[0]
    right = problem.solution
    copied = right.replace(right.split("= ")[-1].split()[0], "999.9", 1)  # steps now reach 999.9
    first, reflected, _ = RuleJudge(0.01).judge(problem, right)
    assert reflected["correct"] and reflected["score"] >= 6
    first, reflected, _ = RuleJudge(0.01).judge(problem, copied)
    assert not reflected["correct"] and "the steps reach" in reflected["step_errors"][0]

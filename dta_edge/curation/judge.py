"""The reflection judge: a JSON verdict, then the same judge re-checks its own verdict.

Turn one asks for {correct, step_errors, score 1-10, rationale}. Turn two shows the judge its
verdict and asks it to confirm or revise; the reflected verdict decides. A malformed reply is
asked again (another seed) up to ``retries`` times, then the solution is rejected with the reason.
Where the backend can, replies are constrained to the verdict's JSON schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from dta_edge.backends.base import Generator, ask_until_parsed
from dta_edge.curation.phase1 import open_model, workers_for
from dta_edge.curation.phase2 import student_spec
from dta_edge.curation.prompts import PromptTemplate
from dta_edge.curation.recipe import CurationRecipe, JudgeSpec
from dta_edge.curation.steps import progress_ticker, run_bounded
from dta_edge.errors import ConfigError
from dta_edge.layout import ALIGNED, JUDGED
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.records import AlignedCandidate, ChatMessage, JudgeVerdict, Problem
from dta_edge.storage import JsonlWriter, read_jsonl
from dta_edge.tasks.scoring import score_text, values_match

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "correct": {"type": "boolean"},
        "step_errors": {
            "type": "array",
            "items": {"type": "string", "maxLength": 160},
            "maxItems": 4,
        },
        "score": {"type": "integer", "enum": list(range(1, 11))},  # enum: grammars honour it
        "rationale": {"type": "string", "maxLength": 300},
    },
    "required": ["correct", "step_errors", "score", "rationale"],
}
Progress = Callable[[str, int, int], None]


def parse_verdict(text: str) -> dict:
    """The verdict object in a reply (code fences and chatter around it allowed).

    Raises:
        ValueError: no JSON object, or one with missing or mistyped keys.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    verdict = json.loads(text[start : end + 1], strict=False)  # raw newlines inside strings
    if not isinstance(verdict, dict):
        raise ValueError("the JSON is not an object")
    missing = [key for key in VERDICT_SCHEMA["required"] if key not in verdict]
    if missing:
        raise ValueError(f"missing keys {missing}")
    if not isinstance(verdict["correct"], bool):
        raise ValueError("'correct' is not true/false")
    score = verdict["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 10:
        raise ValueError(f"'score' {score!r} is not a number from 1 to 10")
    if not isinstance(verdict["step_errors"], list):
        raise ValueError("'step_errors' is not a list")
    return verdict


def _compact(verdict: dict, limit: int = 300) -> dict:
    """The verdict as echoed back for reflection: long strings cut, so the turn fits a context."""
    cut = lambda text: text if len(text) <= limit else text[:limit] + "..."  # noqa: E731
    return {
        **verdict,
        "rationale": cut(str(verdict["rationale"])),
        "step_errors": [cut(str(e)) for e in verdict["step_errors"][:4]],
    }


class ReflectionJudge:
    """Two-turn judging over any Generator."""

    def __init__(self, generator: Generator, spec: JudgeSpec) -> None:
        self.generator = generator
        self.spec = spec
        self._first = PromptTemplate(spec.prompt)
        self._reflect = PromptTemplate(spec.reflect_prompt)

    def _ask(self, messages: list[ChatMessage]) -> tuple[dict | None, str]:
        return ask_until_parsed(
            self.generator, messages, parse_verdict, retries=self.spec.retries, max_tokens=400,
            json_schema=VERDICT_SCHEMA if self.spec.json_schema else None,
        )  # fmt: skip

    def judge(self, problem: Problem, solution: str) -> tuple[dict | None, dict | None, str]:
        """(first verdict, reflected verdict, failure reason or '')."""
        reference = problem.answer_text if problem.answer is not None or problem.answer_text else ""
        first_turn = ChatMessage(role="user", content=self._first.render(
            question=problem.question, reference_answer=reference,
            solution=solution))  # fmt: skip
        first, failure = self._ask([first_turn])
        if first is None:
            return None, None, f"first verdict: {failure}"
        reflected, failure = self._ask([
            first_turn,
            ChatMessage(role="assistant", content=json.dumps(_compact(first))),
            ChatMessage(role="user", content=self._reflect.render()),
        ])  # fmt: skip
        if reflected is None:
            return first, None, f"reflected verdict: {failure}"
        return first, reflected, ""


_NUMBER = re.compile(r"=\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")


class RuleJudge:
    """The offline stand-in: checks that the boxed answer is the result the steps arrive at.

    It catches "right answer, wrong working" (a copied answer under steps that compute something
    else), the failure an LLM judge exists to catch, and answers in the same verdict format. Its
    second pass re-checks against the reference answer, so reflection can revise a verdict.
    """

    def __init__(self, rel_tol: float) -> None:
        self.rel_tol = rel_tol

    def judge(self, problem: Problem, solution: str) -> tuple[dict | None, dict | None, str]:
        """(first verdict, reflected verdict, '')."""
        _, value, correct, _ = score_text(solution, problem)
        body = solution.rsplit("\\boxed", 1)[0]
        results = [float(m) for m in _NUMBER.findall(body)]
        errors = []
        if value is None:
            errors.append("no final numeric answer")
        elif results and not values_match(value, results[-1], self.rel_tol):
            errors.append(f"the steps reach {results[-1]:g}, the answer says {value:g}")
        first = {
            "correct": not errors,
            "step_errors": errors,
            "score": 9 if not errors else 3,
            "rationale": "consistency of steps and answer",
        }
        reflected = dict(first)
        if not correct and first["correct"]:
            reflected = {
                "correct": False,
                "step_errors": ["final answer differs from reference"],
                "score": 2,
                "rationale": "re-checked against the reference answer",
            }
        return first, reflected, ""


def verdict_record(
    item: AlignedCandidate, spec: JudgeSpec, outcome, request_failed: bool = False
) -> JudgeVerdict:
    """Accept when the reflected verdict says correct with a score of at least min_score.

    A request that failed (server, network) is recorded as not accepted and marked ``failed``, so
    a rerun asks again; a reply that never parsed is the judge's answer and stays a rejection.
    """
    first, reflected, failure = outcome
    common = {
        "problem_id": item.problem_id, "teacher": item.teacher,
        "sample_index": item.sample_index, "first": first, "reflected": reflected,
    }  # fmt: skip
    if failure:
        return JudgeVerdict(**common, accepted=False, reason=failure, failed=request_failed)
    score = float(reflected["score"])
    if not reflected["correct"]:
        reason, accepted = "judge: incorrect after reflection", False
    elif score < spec.min_score:
        reason, accepted = f"judge: score {score:g} below {spec.min_score:g}", False
    else:
        reason, accepted = f"judge: correct, score {score:g}", True
    if first and first.get("correct") != reflected["correct"]:
        reason += " (reflection revised the verdict)"
    return JudgeVerdict(**common, accepted=accepted, score=score, reason=reason)


def run_judge(
    recipe: CurationRecipe,
    problems: list[Problem],
    out_dir: Path,
    *,
    resolve: ModelResolver = resolve_model,
    on_progress: Progress | None = None,
) -> Path:
    """Judge every kept rewrite in aligned.jsonl -> judged.jsonl (resumable)."""
    progress = on_progress or (lambda _name, _done, _total: None)
    by_id = {p.id: p for p in problems}
    kept = [a for a in read_jsonl(out_dir / ALIGNED, AlignedCandidate) if a.kept]
    path = out_dir / JUDGED
    with JsonlWriter(path, JudgeVerdict, retry=lambda r: r.failed) as writer:
        if not recipe.judge.enabled:
            for item in kept:
                writer.write(JudgeVerdict(problem_id=item.problem_id, teacher=item.teacher,
                                          sample_index=item.sample_index, accepted=True,
                                          reason="judge disabled in the recipe"))  # fmt: skip
            return path
        todo = [a for a in kept if a.key not in writer.done]
        done = len(kept) - len(todo)
        progress("judge", done, len(kept))
        if not todo:
            return path
        spec = recipe.judge.model or student_spec(recipe)
        if recipe.judge.kind == "rule":
            judge = RuleJudge(recipe.agreement.rel_tol)
        else:
            generator = open_model(spec, resolve, recipe.judge.concurrency)
            judge = ReflectionJudge(generator, recipe.judge)

        def one(item: AlignedCandidate):
            try:
                return judge.judge(by_id[item.problem_id], item.rewrite or ""), False
            except ConfigError:
                raise  # a broken template or option: every request would fail alike
            except Exception as exc:  # noqa: BLE001 - recorded, retried on a rerun
                failure = f"judge request failed: {type(exc).__name__}: {exc}"[:300]
                return (None, None, failure), True

        def keep(item: AlignedCandidate, result) -> None:
            outcome, request_failed = result
            writer.write(verdict_record(item, recipe.judge, outcome, request_failed))

        tick = progress_ticker(progress, "judge", done, len(kept))
        try:
            run_bounded(
                todo, one, keep, workers=workers_for(spec, recipe.judge.concurrency), on_done=tick
            )
        finally:
            if isinstance(judge, ReflectionJudge):
                judge.generator.close()
    return path

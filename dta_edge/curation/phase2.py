"""Phase II: agreed teacher solutions rewritten in the student's own voice -> aligned.jsonl.

For each agreed candidate the rewriter (the student by default) sees the solution and a few of the
student's own greedy attempts at held-out problems, and writes ``phrasings`` rewrites. A rewrite
whose final answer differs from the original's is rejected. The student's NLL per token (thinking
off, its own template) is measured on the original and on every surviving rewrite; the lowest one
is kept only if it is lower than the original's; a solution the rewriter restates unchanged is
already in the student's voice and is kept as it is. Rewriting runs ``concurrency`` at a time on a
server; scoring stays on this thread (one local model).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from dta_edge.backends.base import GenerationRequest, SamplingSettings
from dta_edge.backends.registry import model_reference
from dta_edge.curation.agreement import agreement_levels
from dta_edge.curation.nll import open_scorer
from dta_edge.curation.phase1 import open_model, workers_for
from dta_edge.curation.prompts import PromptTemplate
from dta_edge.curation.recipe import CurationRecipe, ModelSpec
from dta_edge.curation.reference_teacher import restyle
from dta_edge.curation.steps import progress_ticker, run_bounded
from dta_edge.errors import ConfigError
from dta_edge.layout import ALIGNED, CANDIDATES, EXEMPLARS
from dta_edge.models.chat import user_prompt
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.records import AlignedCandidate, Candidate, ChatMessage, Problem
from dta_edge.storage import JsonlWriter, atomic_write_json, read_jsonl
from dta_edge.tasks.generator import ProblemsConfig, generate_problems
from dta_edge.tasks.scoring import score_text, values_match

Progress = Callable[[str, int, int], None]


def student_spec(recipe: CurationRecipe) -> ModelSpec:
    """The student as a Generator: llama.cpp for a GGUF, transformers otherwise."""
    model = recipe.student.model
    if recipe.student.scorer == "openai":  # a served student answers over the same endpoints
        backend, options = "openai", dict(recipe.student.scorer_options)
    else:
        backend = "llama-cpp" if model.endswith(".gguf") or "@" in model else "transformers"
        options = {"device": recipe.student.device} if backend == "transformers" else {}
    return ModelSpec(
        backend=backend,
        model=model,
        options=options,
        sampling=SamplingSettings(max_tokens=recipe.student.max_tokens),
    )


def student_exemplars(
    recipe: CurationRecipe, out_dir: Path, resolve: ModelResolver = resolve_model
) -> list[dict]:
    """The student's greedy attempts at held-out generated problems (cached in exemplars.json)."""
    path = out_dir / EXEMPLARS
    if path.exists():
        return json.loads(path.read_text())
    if recipe.student.exemplars == 0:
        return []
    held_out = generate_problems(
        ProblemsConfig(
            n=recipe.student.exemplars, seed=recipe.student.exemplar_seed, id_prefix="ex"
        )
    )
    generator = open_model(student_spec(recipe), resolve)
    try:
        exemplars = []
        for problem in held_out:
            content = user_prompt(problem.question, recipe.instruction)
            request = GenerationRequest(messages=(ChatMessage(role="user", content=content),),
                                        sampling=student_spec(recipe).sampling)  # fmt: skip
            exemplars.append({"question": problem.question,
                              "attempt": generator.generate(request)[0].text})  # fmt: skip
    finally:
        generator.close()
    atomic_write_json(path, exemplars)
    return exemplars


def _keeps_answer(text: str, original: Candidate, problem: Problem, rel_tol: float) -> bool:
    extracted, value, correct, _ = score_text(text, problem)
    if extracted is None:
        return False
    if original.correct is not None and (problem.answer is not None or problem.answer_text):
        return correct
    if value is not None and original.value is not None:
        return values_match(value, original.value, rel_tol)
    return extracted.strip() == (original.extracted_answer or "").strip()


def agreed_candidates(
    recipe: CurationRecipe, problems: list[Problem], out_dir: Path
) -> list[tuple[Problem, Candidate, float]]:
    """Phase I candidates whose answer agrees (with the reference, else the majority): level."""
    by_problem: dict[str, list[Candidate]] = defaultdict(list)
    for record in read_jsonl(out_dir / CANDIDATES, Candidate):
        by_problem[record.problem_id].append(record)
    agreed: list[tuple[Problem, Candidate, float]] = []
    for problem in problems:
        levels = agreement_levels(problem, by_problem.get(problem.id, []), recipe.agreement)
        agreed += [(problem, c, levels[c.key]) for c in by_problem.get(problem.id, [])
                   if c.key in levels]  # fmt: skip
    return agreed


def run_phase2(
    recipe: CurationRecipe,
    problems: list[Problem],
    out_dir: Path,
    *,
    resolve: ModelResolver = resolve_model,
    on_progress: Progress | None = None,
) -> Path:
    """Write (or complete) aligned.jsonl from candidates.jsonl; return its path."""
    progress = on_progress or (lambda _name, _done, _total: None)
    agreed = agreed_candidates(recipe, problems, out_dir)
    path = out_dir / ALIGNED
    with JsonlWriter(path, AlignedCandidate, retry=lambda r: r.failed) as writer:
        todo = [item for item in agreed if item[1].key not in writer.done]
        done = len(agreed) - len(todo)
        progress("rewrite", done, len(agreed))
        if not todo:
            return path
        exemplars = student_exemplars(recipe, out_dir, resolve)
        spec = recipe.rewriter.model or student_spec(recipe)
        rewriter, prompt = _rewriter(recipe, spec, resolve)
        scorer = open_scorer(
            recipe.student.scorer,
            model_reference(student_spec(recipe).backend, recipe.student.model, resolve),
            recipe.student.device,
            recipe.student.batch_size,
            device_map=recipe.student.device_map,
            options=recipe.student.scorer_options,
        )

        def rewrite(item: tuple[Problem, Candidate, float]):
            problem, original, _ = item
            if isinstance(rewriter, _Restyler) or prompt is None:
                return [restyle(original.text)], None
            content = prompt.render(question=problem.question, solution=original.text,
                                    exemplars=exemplars)  # fmt: skip
            sampling = recipe.rewriter.sampling.model_copy(update={"n": recipe.rewriter.phrasings})
            request = GenerationRequest(
                messages=(ChatMessage(role="user", content=content),), sampling=sampling
            )
            try:
                return [g.text for g in rewriter.generate(request)], None
            except ConfigError:
                raise  # a broken template or option: every request would fail alike
            except Exception as exc:  # noqa: BLE001 - recorded as the rejection reason
                return [], f"rewriter failed: {type(exc).__name__}: {exc}"[:300]

        def keep(item: tuple[Problem, Candidate, float], result) -> None:
            problem, original, level = item
            texts, error = result  # scored here, on one thread: the scorer is not thread-safe
            writer.write(_align(recipe, scorer, problem, original, level, texts, error))

        tick = progress_ticker(progress, "rewrite", done, len(agreed))
        try:
            run_bounded(
                todo, rewrite, keep, workers=workers_for(spec, recipe.rewriter.concurrency),
                on_done=tick,
            )  # fmt: skip
        finally:
            rewriter.close()
    return path


def _rewriter(recipe: CurationRecipe, spec: ModelSpec, resolve: ModelResolver):
    """(the rewriting model, its prompt), or the built-in restyler and no prompt."""
    if recipe.rewriter.kind == "restyle":
        return _Restyler(), None
    prompt = PromptTemplate(recipe.rewriter.prompt)
    return open_model(spec, resolve, recipe.rewriter.concurrency), prompt


class _Restyler:
    """Placeholder generator for the rule-based rewriter (nothing to load or close)."""

    def close(self) -> None:
        """Nothing to free."""


def _align(recipe, scorer, problem, original, level, texts, error) -> AlignedCandidate:
    prompt = user_prompt(problem.question, recipe.instruction)
    faithful = [t for t in texts if _keeps_answer(t, original, problem, recipe.agreement.rel_tol)]
    scores = scorer.nll_per_token([(prompt, original.text)] + [(prompt, t) for t in faithful])
    before, after = scores[0], scores[1:]
    common = {
        "problem_id": original.problem_id, "teacher": original.teacher,
        "sample_index": original.sample_index, "original": original.text, "agreement": level,
        "nll_before": before,
    }  # fmt: skip
    if error:
        return AlignedCandidate(
            **common, rewrite=None, nll_after=None, kept=False, reason=error, failed=True
        )
    if not faithful:
        return AlignedCandidate(
            **common, rewrite=None, nll_after=None, kept=False,
            reason="every rewrite changed the final answer",
        )  # fmt: skip
    best = min(range(len(faithful)), key=lambda i: after[i])
    if faithful[best].strip() == original.text.strip():  # nothing to align: it is kept as is
        return AlignedCandidate(**common, rewrite=faithful[best], nll_after=before, kept=True,
                                reason="already in the student's voice")  # fmt: skip
    kept = after[best] < before
    return AlignedCandidate(
        **common, rewrite=faithful[best], nll_after=after[best], kept=kept,
        reason="rewrite lowered the student's NLL" if kept
        else "no rewrite lowered the student's NLL",
    )  # fmt: skip

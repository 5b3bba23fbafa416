"""Phase I: every teacher writes k candidate solutions per problem -> candidates.jsonl.

Remote teachers run ``concurrency`` problems at once per endpoint (the openai backend bounds each
endpoint and retries), as coroutines on the client's own event loop; in-process models run one
at a time. Each finished problem's samples are appended at once, so a crash loses at most the
problems in flight, and a rerun asks only for (problem, teacher) pairs that are not complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from dta_edge.backends.base import AsyncGenerator, Generation, GenerationRequest, Generator
from dta_edge.backends.registry import backend_class, open_generator
from dta_edge.curation.prompts import PromptTemplate
from dta_edge.curation.recipe import CurationRecipe, ModelSpec, TeacherSpec
from dta_edge.curation.reference_teacher import reference_samples
from dta_edge.curation.steps import progress_ticker, run_bounded, run_bounded_async
from dta_edge.errors import ConfigError
from dta_edge.layout import CANDIDATES
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.records import Candidate, ChatMessage, Problem, sample_key
from dta_edge.storage import JsonlWriter
from dta_edge.tasks.scoring import score_text

Progress = Callable[[str, int, int], None]


def open_model(spec: ModelSpec, resolve: ModelResolver = resolve_model, concurrency: int = 1):
    """A Generator for a recipe's model spec ('embedded:tiny[@target]' resolved).

    For servers, ``concurrency`` (the recipe step's) becomes the per-endpoint bound, unless the
    spec's options set a larger one.
    """
    options = dict(spec.options)
    if _served(spec):
        options["concurrency"] = max(int(options.get("concurrency", 1)), concurrency)
    return open_generator(spec, resolve, options)


def _served(spec: ModelSpec) -> bool:
    """A model behind a server: requests may run in parallel, bounded per endpoint."""
    return backend_class(spec.backend).model_kind == "served"


def workers_for(spec: ModelSpec, concurrency: int) -> int:
    """Threads for a model: in-process runtimes are not thread-safe, servers are."""
    if not _served(spec):
        return 1
    urls = spec.options.get("base_url", "")
    return concurrency * (1 if isinstance(urls, str) else len(urls))


def candidate(problem: Problem, teacher: str, index: int, text: str, **extra) -> Candidate:
    """A scored candidate (correctness against the reference where the problem has one)."""
    extracted, value, correct, _ = score_text(text, problem)
    return Candidate(
        problem_id=problem.id, teacher=teacher, sample_index=index, text=text,
        extracted_answer=extracted, value=value, correct=correct, **extra,
    )  # fmt: skip


def _model_of(teacher: TeacherSpec) -> ModelSpec:
    """A model teacher's model (the recipe's validator guarantees one; say so if not)."""
    if teacher.model is None:
        raise ConfigError(teacher.name, ["a model teacher needs model:"])
    return teacher.model


def _request(
    teacher: TeacherSpec, prompt: PromptTemplate, recipe: CurationRecipe, problem: Problem
) -> GenerationRequest:
    spec = _model_of(teacher)
    content = prompt.render(question=problem.question, instruction=recipe.instruction)
    return GenerationRequest(
        messages=(ChatMessage(role="user", content=content),),
        sampling=spec.sampling.model_copy(update={"n": teacher.k, "seed": teacher.seed}),
        thinking=teacher.thinking,
    )


def _failed(teacher: TeacherSpec, problem: Problem, exc: Exception) -> list[Candidate]:
    """A failed request is recorded, never fatal (a rerun asks again)."""
    return [
        Candidate(problem_id=problem.id, teacher=teacher.name, sample_index=i, text="",
                  error=f"{type(exc).__name__}: {exc}"[:500])
        for i in range(teacher.k)
    ]  # fmt: skip


def _answered(
    teacher: TeacherSpec, problem: Problem, answers: list[Generation], latency: float
) -> list[Candidate]:
    return [
        candidate(problem, teacher.name, i, _trace(a, teacher.thinking),
                  output_tokens=a.output_tokens, latency_s=a.e2e_s if teacher.k == 1 else latency)
        for i, a in enumerate(answers)
    ]  # fmt: skip


def _ask(
    generator: Generator, teacher: TeacherSpec, prompt: PromptTemplate, recipe: CurationRecipe,
    problem: Problem,
) -> list[Candidate]:  # fmt: skip
    request = _request(teacher, prompt, recipe, problem)
    started = time.perf_counter()
    try:
        answers = generator.generate(request)
    except ConfigError:
        raise  # a broken chat template or option: every request would fail alike
    except Exception as exc:  # noqa: BLE001 - a failed request is recorded, never fatal
        return _failed(teacher, problem, exc)
    return _answered(teacher, problem, answers, time.perf_counter() - started)


async def _ask_async(
    generator: AsyncGenerator, teacher: TeacherSpec, prompt: PromptTemplate,
    recipe: CurationRecipe, problem: Problem,
) -> list[Candidate]:  # fmt: skip
    """:func:`_ask` as a coroutine on the client's loop."""
    request = _request(teacher, prompt, recipe, problem)
    started = time.perf_counter()
    try:
        answers = await generator.agenerate(request)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed request is recorded, never fatal
        return _failed(teacher, problem, exc)
    return _answered(teacher, problem, answers, time.perf_counter() - started)


def _trace(answer, thinking: bool) -> str:
    """The candidate text: with thinking, the reasoning's work ahead of the answer."""
    if thinking and answer.reasoning:
        return f"{answer.reasoning.strip()}\n{answer.text.strip()}"
    return answer.text


def run_phase1(
    recipe: CurationRecipe,
    problems: list[Problem],
    out_dir: Path,
    *,
    resolve: ModelResolver = resolve_model,
    on_progress: Progress | None = None,
) -> Path:
    """Write (or complete) candidates.jsonl; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CANDIDATES
    progress = on_progress or (lambda _name, _done, _total: None)
    with JsonlWriter(path, Candidate, retry=lambda c: c.error is not None) as writer:
        for teacher in recipe.teachers:
            keys = lambda p, t=teacher: (sample_key(p.id, t.name, i) for i in range(t.k))  # noqa: E731
            todo = [p for p in problems if any(key not in writer.done for key in keys(p))]
            tick = progress_ticker(progress, teacher.name, len(problems) - len(todo), len(problems))
            keep = lambda _problem, records: writer.write_all(records)  # noqa: E731
            if teacher.kind == "reference":
                run_bounded(todo, lambda p, t=teacher: _reference(t, p), keep, on_done=tick)
                continue
            prompt = PromptTemplate(teacher.prompt)
            generator = open_model(_model_of(teacher), resolve, teacher.concurrency)
            workers = workers_for(_model_of(teacher), teacher.concurrency)
            try:
                if isinstance(generator, AsyncGenerator):
                    ask_async = partial(_ask_async, generator, teacher, prompt, recipe)
                    generator.run(run_bounded_async(
                        todo, ask_async, keep, on_done=tick, workers=workers))  # fmt: skip
                else:
                    ask = partial(_ask, generator, teacher, prompt, recipe)
                    run_bounded(todo, ask, keep, on_done=tick, workers=workers)
            finally:
                generator.close()
    return path


def _reference(teacher: TeacherSpec, problem: Problem) -> list[Candidate]:
    """The reference teacher's k samples for one problem (its styles, some made wrong)."""
    samples = reference_samples(
        problem, teacher.k, teacher.styles, teacher.wrong_fraction, teacher.seed
    )
    return [candidate(problem, teacher.name, index, text, synthetic=synthetic)
            for index, (text, synthetic) in enumerate(samples)]  # fmt: skip

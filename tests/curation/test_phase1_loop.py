"""Phase I drives a served teacher on its client's event loop: one coroutine per request in
flight, not one thread, and the records come out as the threaded path wrote them."""

from __future__ import annotations

import threading

from dta_edge.backends.base import SamplingSettings
from dta_edge.backends.openai_backend import OpenAIGenerator
from dta_edge.curation.phase1 import run_phase1
from dta_edge.curation.recipe import CurationRecipe, ModelSpec, StudentSpec, TeacherSpec
from dta_edge.records import Candidate, Problem
from dta_edge.storage import read_jsonl
from dta_edge.tasks.sources import ProblemSource

from ..backends.fault_server import FaultServer


def recipe(base_url: str, concurrency: int, k: int) -> CurationRecipe:
    teacher = TeacherSpec(
        name="served", concurrency=concurrency, k=k,
        model=ModelSpec(backend="openai", model="m", sampling=SamplingSettings(max_tokens=8),
                        options={"base_url": base_url, "retries": 0}),
    )  # fmt: skip
    return CurationRecipe(
        name="loop", problems=ProblemSource(file="unused"), student=StudentSpec(model="unused"),
        teachers=(teacher,),
    )  # fmt: skip


def problems(n: int) -> list[Problem]:
    return [Problem(id=f"p{i}", source="test", category="c", question=f"What is 6 x 7 ({i})?",
                    answer=42.0, answer_text="42") for i in range(n)]  # fmt: skip


def test_a_served_teacher_never_takes_the_blocking_path_or_a_thread_per_request(
    tmp_path, monkeypatch
):
    def blocking(*_args, **_kwargs):
        raise AssertionError("Phase I called the blocking generate")

    monkeypatch.setattr(OpenAIGenerator, "generate", blocking)
    seen: list[tuple[str, list[str]]] = []  # (the running thread, every thread) per request
    original = OpenAIGenerator.agenerate

    async def counted(self, request):
        seen.append((threading.current_thread().name, [t.name for t in threading.enumerate()]))
        return await original(self, request)

    monkeypatch.setattr(OpenAIGenerator, "agenerate", counted)
    server = FaultServer(["e500"])  # one request fails (no retry): its problem waits for a rerun
    try:
        run_phase1(recipe(server.base_url, 16, 2), problems(60), tmp_path)
    finally:
        server.close()
    candidates = read_jsonl(tmp_path / "candidates.jsonl", Candidate)
    failed = [c for c in candidates if c.error is not None]
    assert len(candidates) == 60 * 2 and len({c.key for c in candidates}) == 120
    assert len(failed) == 2 and all("HTTP 500" in c.error for c in failed)  # one problem's k
    assert all(c.correct for c in candidates if c.error is None)
    # every request ran on the client's one loop thread; no pool of client threads existed
    assert len(seen) == 60 and {running for running, _ in seen} == {"openai-m"}
    assert not [name for _, names in seen for name in names if "ThreadPool" in name]

"""`dta bench`: run every system of a suite over its problems, appending one record per request.

Order of a system's work: load the model (timed apart), send the warm-up requests (outside every
energy window), then each problem's k samples, each window metered. Records are appended as they
finish, so a crash loses at most the request in flight and a rerun sends only what is missing.
A request that fails is recorded with its error and counts as wrong.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from dta_edge.backends.base import Generation, GenerationRequest
from dta_edge.backends.registry import backend_class, create_generator, model_reference
from dta_edge.bench.metrics import BenchSummaryFile, SystemSummary, summarize_system
from dta_edge.bench.roofline import model_footprint, roofline
from dta_edge.bench.suite import BenchSuite, SystemSpec
from dta_edge.config import dump_config
from dta_edge.errors import ConfigError, DtaError
from dta_edge.layout import PROBLEMS, RESULTS, SUITE, SUMMARY
from dta_edge.meters.base import EnergyReading, Meter
from dta_edge.meters.registry import create_meter, meter_options
from dta_edge.models.chat import user_prompt
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.plugins import with_profile_defaults
from dta_edge.profiles import DeviceProfile
from dta_edge.records import BenchResult, ChatMessage, Problem, sample_key
from dta_edge.storage import (
    JsonlWriter,
    atomic_write_json,
    atomic_write_text,
    read_json,
    read_jsonl,
    write_jsonl,
)
from dta_edge.tasks.protocols import PROTOCOLS, ProtocolName, judge, verdicts
from dta_edge.tasks.sources import load_problem_source

Progress = Callable[[str, int, int], None]


def load_suite_problems(suite: BenchSuite, suite_path: Path) -> list[Problem]:
    """The suite's problems, generated or read, cut to ``suite.n``."""
    return load_problem_source(suite.problems, suite.n, suite_path)


def open_meter(profile: DeviceProfile, on_notice: Callable[[str], None] | None = None) -> Meter:
    """The first meter of the profile's chain that opens here (hardware first, estimator last).

    Raises:
        ConfigError: none of them opens; every meter's reason is listed.
    """
    reasons = []
    meter_options(profile.meter_chain[0], profile.meter_options, profile)  # bad options: stop
    for index, name in enumerate(profile.meter_chain):
        options = profile.meter_options if index == 0 else None
        try:
            meter = create_meter(name, options, profile)
        except ConfigError as exc:
            reasons.append(f"{name} unavailable ({'; '.join(exc.problems) or exc})")
            continue
        if reasons and on_notice:
            estimate = " estimate" if getattr(meter, "estimated", False) else ""
            using = "no energy is measured" if name == "none" else f"using the {name}{estimate}"
            on_notice(f"{'; '.join(reasons)}: {using}")
        return meter
    raise ConfigError(f"profile {profile.name}", [f"no meter opens here ({'; '.join(reasons)})"])


def _apply_profile(system: SystemSpec, profile: DeviceProfile) -> dict:
    """Backend options: the profile's defaults (as its Options names them), the suite's on top."""
    return with_profile_defaults(backend_class(system.backend), profile, system.options)


class _Bench:
    """One suite run: the meter, the writer and the per-request bookkeeping."""

    def __init__(
        self, meter: Meter, writer: JsonlWriter, idle_w: float, protocol: ProtocolName
    ) -> None:
        self.meter = meter
        self.writer = writer
        self.idle_w = idle_w
        self.protocol = protocol

    def window(
        self, call: Callable[[], list[Generation]]
    ) -> tuple[list[Generation], EnergyReading]:
        """Run ``call`` inside one meter window, idle power subtracted when measured."""
        self.meter.start()
        try:
            generations = call()
        finally:
            reading = self.meter.stop()
        if reading.joules is not None and self.idle_w:
            reading = reading.model_copy(
                update={"joules": max(reading.joules - self.idle_w * reading.seconds, 0.0)}
            )
        return generations, reading

    def record(
        self,
        system: SystemSpec,
        problem: Problem,
        indices: list[int],
        generations: list[Generation],
        reading: EnergyReading,
    ) -> None:
        window_id = f"{problem.id}:{indices[0]}"
        tokens = sum(g.output_tokens for g in generations) or 1
        for index, generation in zip(indices, generations, strict=True):
            extracted, value, correct, _ = judge(self.protocol, generation.text, problem)
            share = generation.output_tokens / tokens if len(generations) > 1 else 1.0
            self.writer.write(
                BenchResult(
                    system=system.name,
                    problem_id=problem.id,
                    sample_index=index,
                    text=generation.text,
                    reasoning=generation.reasoning,
                    extracted=extracted,
                    value=value,
                    correct=correct,
                    verdicts=verdicts(generation.text, problem),
                    prompt_tokens=generation.prompt_tokens,
                    output_tokens=generation.output_tokens,
                    ttft_ms=None if generation.ttft_s is None else generation.ttft_s * 1000,
                    e2e_ms=generation.e2e_s * 1000,
                    decode_tokens_per_s=generation.decode_tokens_per_s,
                    energy_j=None if reading.joules is None else reading.joules * share,
                    energy_estimated=None if reading.joules is None else reading.estimated,
                    meter=reading.meter,
                    energy_method=None if reading.joules is None else reading.method,
                    window_id=window_id,
                    window_ms=reading.seconds * 1000,
                    window_energy_j=reading.joules,
                    backend_timings=generation.backend_timings,
                )
            )

    def failed(self, system: SystemSpec, problem: Problem, indices: list[int], error: str) -> None:
        for index in indices:
            self.writer.write(
                BenchResult(
                    system=system.name, problem_id=problem.id, sample_index=index, text="",
                    extracted=None, correct=False, error=error[:500], meter=self.meter.name,
                    verdicts=dict.fromkeys(PROTOCOLS, False),
                )
            )  # fmt: skip


def _request(suite: BenchSuite, system: SystemSpec, problem: Problem, n: int, seed: int):
    content = user_prompt(problem.question, suite.instruction)
    return GenerationRequest(
        messages=(ChatMessage(role="user", content=content),),
        sampling=system.sampling.model_copy(update={"n": n, "seed": seed}),
        thinking=system.thinking,
        thinking_budget=system.thinking_budget,
    )


def run_suite(
    suite: BenchSuite,
    suite_path: Path,
    profile: DeviceProfile,
    out_dir: Path,
    *,
    resolve: ModelResolver = resolve_model,
    on_progress: Progress | None = None,
    on_notice: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> list[SystemSummary]:
    """Run (or resume) every system; write results.jsonl, summary.json and run.json.

    `dta bench`, the demo and a notebook get the same folder; a folder holding a run of another
    suite or profile is refused unless ``overwrite`` moves it aside.
    """
    from dta_edge.runs import run_record

    config = {"suite": suite.model_dump(mode="json"), "profile": profile.model_dump(mode="json")}
    with run_record(out_dir, "bench", config, overwrite=overwrite):
        return _run_suite(suite, suite_path, profile, out_dir, resolve, on_progress, on_notice)


def _run_suite(
    suite: BenchSuite,
    suite_path: Path,
    profile: DeviceProfile,
    out_dir: Path,
    resolve: ModelResolver,
    on_progress: Progress | None,
    on_notice: Callable[[str], None] | None,
) -> list[SystemSummary]:
    problems = load_suite_problems(suite, suite_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the suite itself, so `dta bench --suite <out>/suite.yaml` repeats this run
    atomic_write_text(out_dir / SUITE, dump_config(suite))
    # the questions beside the answers, so analyses (pairwise judging) need no second source
    write_jsonl(out_dir / PROBLEMS, problems)
    meter = open_meter(profile, on_notice)
    idle_w = 0.0
    if suite.idle_seconds > 0 and meter.name != "none":
        meter.start()
        time.sleep(suite.idle_seconds)
        idle = meter.stop()
        idle_w = (idle.joules or 0.0) / idle.seconds
    load_seconds: dict[str, float] = {}
    model_paths: dict[str, str] = {}
    placements: dict[str, dict] = {}
    progress = on_progress or (lambda _name, _done, _total: None)
    try:
        with JsonlWriter(
            out_dir / RESULTS, BenchResult, retry=lambda r: r.error is not None
        ) as writer:
            bench = _Bench(meter, writer, idle_w, suite.protocol)
            for system in suite.systems:
                todo = [
                    (problem, [i for i in range(system.k)
                               if sample_key(system.name, problem.id, i) not in writer.done])
                    for problem in problems
                ]  # fmt: skip
                todo = [(p, missing) for p, missing in todo if missing]
                total = len(problems)
                progress(system.name, total - len(todo), total)
                if not todo:
                    continue
                started = time.perf_counter()
                # once: the roofline reads it (a served name passes through as it is)
                model_paths[system.name] = model_reference(system.backend, system.model, resolve)
                options = _apply_profile(system, profile)
                generator = create_generator(system.backend, model_paths[system.name], options)
                load_seconds[system.name] = time.perf_counter() - started
                placements[system.name] = getattr(generator, "placement", {})
                try:
                    for problem in problems[: suite.warmup]:
                        generator.generate(_request(suite, system, problem, 1, 10_000))
                    for done, (problem, missing) in enumerate(todo, total - len(todo) + 1):
                        _run_problem(bench, suite, system, generator, problem, missing)
                        progress(system.name, done, total)
                finally:
                    generator.close()
    finally:
        meter.close()
    return write_summary(suite, profile, out_dir, load_seconds, idle_w or None, model_paths,
                         placements)  # fmt: skip


def _run_problem(bench: _Bench, suite, system: SystemSpec, generator, problem, missing) -> None:
    seed = system.sampling.seed
    batches = [[i] for i in missing] if system.issue == "sequential" else [missing]
    for batch in batches:
        try:
            if batch == list(range(batch[0], batch[0] + len(batch))):
                request = _request(suite, system, problem, len(batch), seed + batch[0])
                generations, reading = bench.window(lambda r=request: generator.generate(r))
            else:  # resumed with gaps: one request per missing sample, in one window
                requests = [_request(suite, system, problem, 1, seed + i) for i in batch]
                generations, reading = bench.window(
                    lambda rs=requests: [g for r in rs for g in generator.generate(r)]
                )
        except ConfigError:
            raise  # a broken chat template or option: every request would fail alike
        except DtaError as exc:
            bench.failed(system, problem, batch, f"{type(exc).__name__}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - a backend crash must not lose the suite
            bench.failed(system, problem, batch, f"{type(exc).__name__}: {exc}")
            continue
        bench.record(system, problem, batch, generations, reading)


def with_roofline(
    summary: SystemSummary, results: list[BenchResult], model: str, profile: DeviceProfile
) -> SystemSummary:
    """The summary with its roofline columns, where the model is a local file we can count."""
    footprint = model_footprint(model)
    if footprint is None:
        return summary
    answered = [r for r in results if r.error is None and r.prompt_tokens is not None]
    context = statistics.mean([(r.prompt_tokens or 0) + (r.output_tokens or 0) / 2
                               for r in answered]) if answered else 0.0  # fmt: skip
    timed = [r for r in answered if r.ttft_ms]
    prefill = ((statistics.median(r.prompt_tokens or 0 for r in timed),
                statistics.median(r.ttft_ms / 1000 for r in timed)) if timed else None)  # fmt: skip
    found = roofline(footprint, summary.decode_tokens_per_s_median, context,
                     profile.memory_bandwidth_gbs, prefill, profile.peak_tflops,
                     profile.matvec_gflops)  # fmt: skip
    return summary if found is None else summary.model_copy(update=found.model_dump())


def _size_mib(model: str) -> float | None:
    """Weights on disk for a local file or folder (None for served or hub models)."""
    path = Path(model)
    if path.is_file():
        return path.stat().st_size / 2**20
    if path.is_dir():
        weights = [
            p for p in path.rglob("*") if p.suffix in (".safetensors", ".gguf", ".onnx", ".data")
        ]
        return sum(p.stat().st_size for p in weights) / 2**20 or None
    return None


def _previous_load_seconds(path: Path) -> dict[str, float | None]:
    """Model load times from the last summary.json; a damaged one is rebuilt, not fatal."""
    if not path.exists():
        return {}
    try:
        systems = read_json(path).get("systems", [])
        return {s["system"]: s.get("load_s") for s in systems if isinstance(s, dict)}
    except (DtaError, KeyError, TypeError, AttributeError):
        return {}  # everything else in it is recomputed from results.jsonl


def write_summary(
    suite: BenchSuite,
    profile: DeviceProfile,
    out_dir: Path,
    load_seconds: dict[str, float],
    idle_w: float | None = None,
    model_paths: dict[str, str] | None = None,
    placements: dict[str, dict] | None = None,
) -> list[SystemSummary]:
    """summary.json from every result on disk (so a resumed run summarises all of it).

    ``model_paths`` maps a system to the file it loaded (an exported embedded model, say), for
    the roofline's byte count; a system without one is counted from its ``model`` when local.
    ``placements`` says where each backend really ran (device, layers offloaded), which wins
    over the profile's device.
    """
    results = read_jsonl(out_dir / RESULTS, BenchResult)
    previous = _previous_load_seconds(out_dir / SUMMARY)
    summaries = []
    for system in suite.systems:
        mine = [r for r in results if r.system == system.name]
        if not mine:
            continue
        placed = (placements or {}).get(system.name, {})
        summary = summarize_system(
            mine,
            backend=system.backend,
            model=system.model,
            quantization=system.quantization,
            model_mib=_size_mib(system.model),
            thinking=system.thinking,
            issue=system.issue,
            load_s=load_seconds.get(system.name, previous.get(system.name)),
            device=placed.get("device", profile.device),
            offloaded_layers=placed.get("offloaded_layers"),
            profile=profile.name,
            idle_w_subtracted=idle_w,
            protocol=suite.protocol,
        )
        summary = summary.model_copy(update={"arm": system.arm, "seed": system.seed})
        path = (model_paths or {}).get(system.name, system.model)
        summaries.append(with_roofline(summary, mine, path, profile))
    atomic_write_json(
        out_dir / SUMMARY,
        BenchSummaryFile(
            suite=suite.name, profile=profile.model_dump(mode="json"), systems=tuple(summaries)
        ).model_dump(mode="json"),
    )
    return summaries

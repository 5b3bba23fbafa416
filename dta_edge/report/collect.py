"""Gather what run folders hold: bench summaries, reported rows, funnels, loss curves, exports.

A run folder is searched recursively, so `dta report runs/demo` finds the bench, curation, train
and export folders a demo writes under it. Every item remembers the folder it came from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from dta_edge.bench.metrics import SystemSummary, per_problem_scores, per_problem_votes
from dta_edge.bench.suite import ReportedSystem
from dta_edge.config import FrozenModel
from dta_edge.errors import DataError
from dta_edge.layout import (
    DRIFT,
    FUNNEL,
    LOSS,
    LOSS_CURVES,
    MANIFEST,
    PAIRWISE,
    REPORTED,
    RESULTS,
    RUN,
    SUMMARY,
    TOKEN_SHIFT,
    TRAIN_SUMMARY,
)
from dta_edge.records import BenchResult, Funnel
from dta_edge.report.bench_runs import BenchRun, across_runs, identify, renamed
from dta_edge.storage import read_json, read_jsonl


class LossCurve(FrozenModel):
    """One training run's loss points."""

    name: str
    train: tuple[tuple[int, float], ...]
    eval: tuple[tuple[int, float], ...]
    summary: dict


class ExportSummary(FrozenModel):
    """One export's target and parity."""

    name: str
    format: str
    quantization: str
    bytes: int
    parity: dict[str, float]
    parity_unavailable: str | None = None


class ReportData(FrozenModel):
    """Everything a report shows."""

    systems: tuple[SystemSummary, ...] = ()
    reported: tuple[ReportedSystem, ...] = ()
    latencies: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    samples: dict[str, tuple[tuple[str, str], ...]] = Field(
        default_factory=dict, description="system -> (problem id, answer text) examples."
    )
    funnels: dict[str, dict] = Field(default_factory=dict)
    losses: tuple[LossCurve, ...] = ()
    exports: tuple[ExportSummary, ...] = ()
    environment: dict = Field(default_factory=dict)
    loss_analysis: dict = Field(default_factory=dict, description="dta analyze loss output.")
    token_shift: dict = Field(default_factory=dict, description="dta analyze token-shift output.")
    drift: dict = Field(default_factory=dict, description="dta analyze drift output.")
    pairwise: tuple[dict, ...] = Field(default=(), description="dta analyze pairwise outputs.")
    scores: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="system -> problem id -> share of samples correct."
    )
    votes: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="system (k > 1) -> problem id -> majority correct."
    )
    costs: dict[str, dict[str, tuple[float | None, int, float | None]]] = Field(
        default_factory=dict,
        description="system -> problem id -> (joules, output tokens, seconds), all samples.",
    )
    across: dict[str, tuple[SystemSummary, ...]] = Field(
        default_factory=dict,
        description="System name -> its rows in each run that holds it (device to device).",
    )
    sources: tuple[str, ...] = ()


def _parse(model, item: dict, path: Path):
    """Validate one saved object (JSON mode, as written); a bad file names itself."""
    try:
        return model.model_validate_json(json.dumps(item))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(map(str, problem["loc"]))
        raise DataError(f"{path}: {where}: {problem['msg']}") from None


def _latencies(results: Sequence[BenchResult]) -> dict[str, tuple[float, ...]]:
    """Per system, seconds per answered problem (windows as issued, like the summary)."""
    per_problem: dict[tuple[str, str], dict[str, float]] = {}
    for r in results:
        if r.window_ms is not None:
            windows = per_problem.setdefault((r.system, r.problem_id), {})
            windows[r.window_id or r.key] = r.window_ms / 1000
    out: dict[str, list[float]] = {}
    for (system, _), windows in per_problem.items():
        out.setdefault(system, []).append(sum(windows.values()))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _costs(results: Sequence[BenchResult]) -> dict[str, dict[str, tuple]]:
    """Per system and problem: joules (None where unmetered), output tokens, seconds.

    The per-problem costs let a ratio of two systems carry a bootstrap interval over problems.
    """
    found: dict[str, dict[str, list]] = {}
    windows: dict[tuple[str, str], dict[str, float]] = {}
    for r in results:
        if r.error is not None:
            continue
        entry = found.setdefault(r.system, {}).setdefault(r.problem_id, [0.0, 0, None])
        entry[0] = None if r.energy_j is None or entry[0] is None else entry[0] + r.energy_j
        entry[1] += r.output_tokens or 0
        if r.window_ms is not None:
            windows.setdefault((r.system, r.problem_id), {})[r.window_id or r.key] = r.window_ms
    for (system, problem), spans in windows.items():
        found[system][problem][2] = sum(spans.values()) / 1000
    return {system: {problem: tuple(v) for problem, v in rows.items()}
            for system, rows in found.items()}  # fmt: skip


def _png_data_uri(path: Path) -> str | None:
    """A PNG an analysis wrote, inlined so report.html stays one self-contained file."""
    import base64

    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _analysis(path: Path) -> dict:
    """An analysis JSON with its PNG(s) attached as data URIs (key 'image' or per model)."""
    result = read_json(path)
    if "plot" in result:
        result["image"] = _png_data_uri(path.parent / result["plot"])
    models = result.get("models")
    if isinstance(models, dict):  # token shift: one word cloud per tuned model
        for model in models.values():
            cloud = model.get("word_cloud")
            model["image"] = _png_data_uri(path.parent / cloud) if cloud else None
    return result


def _typed(model, path: Path):
    """A whole JSON file validated as ``model``; a damaged file names itself and the field."""
    return _parse(model, read_json(path), path)


def _field(data: dict, key: str, path: Path) -> Any:
    if key not in data:
        raise DataError(f"{path}: field '{key}' is missing")
    return data[key]


def _export_summary(path: Path) -> ExportSummary:
    """One export row from a manifest.json, read as the ExportManifest the exporter wrote."""
    from dta_edge.export.runner import ExportManifest

    manifest = _typed(ExportManifest, path)
    return ExportSummary(
        name=f"{manifest.target.name} ({path.parent.name})",
        format=manifest.format, quantization=manifest.quantization,
        bytes=sum(f.bytes for f in manifest.files), parity=manifest.parity,
        parity_unavailable=manifest.parity_unavailable,
    )  # fmt: skip


def _environment(run: dict) -> dict:
    """The report's Environment section from a run.json: every field filled, in words."""
    hardware = run.get("hardware") or {}
    gpus = ", ".join(hardware.get("gpus") or ()) or "none"
    machine = (
        f"{hardware.get('cpu_model', '?')} ({hardware.get('cpu_count', '?')} cores, "
        f"{hardware.get('memory_gib', '?')} GiB); GPUs: {gpus}"
    )
    return {
        "git_revision": run.get("git_revision") or "not a git checkout",
        "python": run.get("python"),
        "hardware": machine,
        "packages": run.get("packages") or {},
    }


def _loss_curve(path: Path) -> LossCurve:
    from dta_edge.records import LossPoint

    points = read_jsonl(path, LossPoint)
    train_json = path.parent / TRAIN_SUMMARY
    return LossCurve(
        name=path.parent.name,
        train=tuple(sorted((p.step, p.loss) for p in points if p.split == "train")),
        eval=tuple(sorted((p.step, p.loss) for p in points if p.split == "eval")),
        summary=read_json(train_json) if train_json.exists() else {},
    )


def _bench_run(summary_path: Path) -> BenchRun:
    """One bench folder's systems (summary.json) and result lines (results.jsonl)."""
    payload = read_json(summary_path)
    systems = [_parse(SystemSummary, s, summary_path) for s in payload.get("systems", [])]
    results_path = summary_path.parent / RESULTS
    results = read_jsonl(results_path, BenchResult) if results_path.exists() else []
    return BenchRun(summary_path.parent, systems, results)


def _add_bench_runs(runs: list[BenchRun], found: dict) -> None:
    """Every run's rows under their display names: ``run:system`` where runs share a name."""
    if not runs:
        return
    names = identify(runs)
    shown = [renamed(run, names) for run in runs]
    for run in shown:
        found["systems"] += run.systems
        found["latencies"].update(_latencies(run.results))
        found["costs"].update(_costs(run.results))
        found["scores"].update(per_problem_scores(run.results))
        found["votes"].update(per_problem_votes(run.results))
        samples = found["samples"]
        for result in run.results:
            mine = samples.get(result.system, ())
            if len(mine) < 3 and result.error is None:
                samples[result.system] = (*mine, (result.problem_id, result.text))
    by_name = {s.system: s for run in shown for s in run.systems}
    found["across"] = across_runs(runs, names, by_name)


def _read_folder(root: Path, found: dict, sources: list[str]) -> None:
    """Everything a report shows from one run folder, searched recursively by layout name."""

    def each(name: str):
        for path in sorted(root.rglob(name)):
            sources.append(str(path.parent))
            yield path

    for path in each(SUMMARY):
        found["bench_runs"].append(_bench_run(path))
    for path in each(REPORTED):
        systems = _field(read_json(path), "systems", path)
        found["reported"] += [_parse(ReportedSystem, s, path) for s in systems]
    for path in each(FUNNEL):
        found["funnels"][path.parent.name] = _typed(Funnel, path).model_dump(mode="json")
    found["losses"] += [_loss_curve(path) for path in each(LOSS)]
    found["exports"] += [_export_summary(path) for path in each(MANIFEST)]
    for path in each(LOSS_CURVES):
        found["loss_analysis"] = read_json(path)
    for name in (TOKEN_SHIFT, DRIFT):
        for path in each(name):
            found[name] = _analysis(path)
    found["pairwise"] += [_analysis(path) for path in each(PAIRWISE)]
    for path in sorted(root.rglob(RUN)):
        found["environment"] = found["environment"] or _environment(read_json(path))


def collect(run_dirs: Sequence[Path]) -> ReportData:
    """Read every recognised file under the run folders.

    Raises:
        DataError: a folder that does not exist, or one with nothing a report can show.
    """
    found: dict = {
        "systems": [], "reported": [], "losses": [], "exports": [], "pairwise": [],
        "latencies": {}, "samples": {}, "funnels": {}, "scores": {}, "votes": {},
        "environment": {}, "loss_analysis": {}, TOKEN_SHIFT: {}, DRIFT: {}, "bench_runs": [],
        "across": {}, "costs": {},
    }  # fmt: skip
    sources: list[str] = []
    for root in run_dirs:
        if not root.is_dir():
            raise DataError(f"{root}: not a folder")
        _read_folder(root, found, sources)
    _add_bench_runs(found["bench_runs"], found)
    if not any(found[key] for key in ("systems", "reported", "funnels", "losses", "exports")):
        raise DataError(
            f"{', '.join(map(str, run_dirs))}: no bench summary.json, reported.json, funnel.json,"
            " loss.jsonl or manifest.json found"
        )
    return ReportData(
        systems=tuple(found["systems"]), reported=tuple(found["reported"]),
        latencies=found["latencies"], samples=found["samples"], funnels=found["funnels"],
        losses=tuple(found["losses"]), exports=tuple(found["exports"]),
        environment=found["environment"], loss_analysis=found["loss_analysis"],
        token_shift=found[TOKEN_SHIFT], drift=found[DRIFT], pairwise=tuple(found["pairwise"]),
        scores=found["scores"], votes=found["votes"], across=found["across"],
        costs=found["costs"],
        sources=tuple(dict.fromkeys(sources)),
    )  # fmt: skip

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

from dta_edge.bench.metrics import SystemSummary
from dta_edge.bench.suite import ReportedSystem
from dta_edge.config import FrozenModel
from dta_edge.errors import DataError
from dta_edge.records import BenchResult
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


def _field(data: dict, key: str, path: Path) -> Any:
    if key not in data:
        raise DataError(f"{path}: field '{key}' is missing")
    return data[key]


def _export_summary(path: Path) -> ExportSummary:
    """One export row from a manifest.json; a field it lacks is named, not a KeyError."""
    manifest = read_json(path)
    try:
        return ExportSummary(
            name=manifest["target"]["name"] + f" ({path.parent.name})",
            format=manifest["format"], quantization=manifest["quantization"],
            bytes=sum(f["bytes"] for f in manifest["files"]), parity=manifest["parity"],
            parity_unavailable=manifest.get("parity_unavailable"),
        )  # fmt: skip
    except (KeyError, TypeError, ValidationError) as exc:
        raise DataError(
            f"{path}: not a finished export manifest (field {exc} is missing or malformed)"
        ) from None


def collect(run_dirs: Sequence[Path]) -> ReportData:
    """Read every recognised file under the run folders.

    Raises:
        DataError: a folder that does not exist, or one with nothing a report can show.
    """
    systems, reported, losses, exports, sources = [], [], [], [], []
    latencies: dict[str, tuple[float, ...]] = {}
    samples: dict[str, tuple[tuple[str, str], ...]] = {}
    funnels: dict[str, dict] = {}
    environment: dict = {}
    loss_analysis: dict = {}
    analyses: dict[str, dict] = {}
    pairwise: list[dict] = []
    for root in run_dirs:
        if not root.is_dir():
            raise DataError(f"{root}: not a folder")
        for summary_path in sorted(root.rglob("summary.json")):
            payload = read_json(summary_path)
            systems += [_parse(SystemSummary, s, summary_path) for s in payload.get("systems", [])]
            results_path = summary_path.parent / "results.jsonl"
            if results_path.exists():
                results = read_jsonl(results_path, BenchResult)
                latencies.update(_latencies(results))
                for result in results:
                    mine = samples.get(result.system, ())
                    if len(mine) < 3 and result.error is None:
                        samples[result.system] = (*mine, (result.problem_id, result.text))
            sources.append(str(summary_path.parent))
        for path in sorted(root.rglob("reported.json")):
            reported += [
                _parse(ReportedSystem, s, path) for s in _field(read_json(path), "systems", path)
            ]
            sources.append(str(path.parent))
        for path in sorted(root.rglob("funnel.json")):
            funnels[path.parent.name] = read_json(path)
            sources.append(str(path.parent))
        for path in sorted(root.rglob("loss.jsonl")):
            from dta_edge.train.sft import LossPoint

            points = read_jsonl(path, LossPoint)
            train_json = path.parent / "train.json"
            losses.append(LossCurve(
                name=path.parent.name,
                train=tuple(sorted((p.step, p.loss) for p in points if p.split == "train")),
                eval=tuple(sorted((p.step, p.loss) for p in points if p.split == "eval")),
                summary=read_json(train_json) if train_json.exists() else {},
            ))  # fmt: skip
            sources.append(str(path.parent))
        for path in sorted(root.rglob("manifest.json")):
            exports.append(_export_summary(path))
            sources.append(str(path.parent))
        for path in sorted(root.rglob("loss_curves.json")):
            loss_analysis = read_json(path)
            sources.append(str(path.parent))
        for name in ("token_shift.json", "drift.json"):
            for path in sorted(root.rglob(name)):
                analyses[name] = _analysis(path)
                sources.append(str(path.parent))
        for path in sorted(root.rglob("pairwise.json")):
            pairwise.append(_analysis(path))
            sources.append(str(path.parent))
        for path in sorted(root.rglob("run.json")):
            run = read_json(path)
            environment = environment or {
                key: run.get(key) for key in ("git_revision", "python", "hardware", "packages")
            }
    if not (systems or reported or funnels or losses or exports):
        raise DataError(
            f"{', '.join(map(str, run_dirs))}: no bench summary.json, reported.json, funnel.json,"
            " loss.jsonl or manifest.json found"
        )
    return ReportData(
        systems=tuple(systems), reported=tuple(reported), latencies=latencies, samples=samples,
        funnels=funnels, losses=tuple(losses), exports=tuple(exports),
        environment=environment, loss_analysis=loss_analysis,
        token_shift=analyses.get("token_shift.json", {}), drift=analyses.get("drift.json", {}),
        pairwise=tuple(pairwise),
        sources=tuple(dict.fromkeys(sources)),
    )  # fmt: skip

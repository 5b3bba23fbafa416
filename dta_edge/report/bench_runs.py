"""Bench runs from several folders (devices) in one report, each system known by (run, system).

The same student benched on an Orin and on a laptop, Qwen3-32B on a server: three runs, and the
student's name in two of them. A name two runs share becomes ``run:system`` on every row, in
the per-problem scores and in the headline, so nothing merges and no delta picks the other
device's row by accident. The run is the bench folder's name (its parent's too, where two runs'
folders share a name).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dta_edge.bench.metrics import SystemSummary
from dta_edge.records import BenchResult


@dataclass
class BenchRun:
    """One bench folder: its systems (as summarised) and every result line."""

    folder: Path
    systems: list[SystemSummary]
    results: list[BenchResult] = field(default_factory=list)
    run: str = ""


def _labels(folders: list[Path]) -> list[str]:
    """A short, distinct name per folder: its name, with as many parents as it takes."""
    depth = 1
    while True:
        labels = ["/".join(folder.parts[-depth:]) for folder in folders]
        if len(set(labels)) == len(labels) or depth > max(len(f.parts) for f in folders):
            return labels
        depth += 1


def identify(runs: list[BenchRun]) -> dict[tuple[str, str], str]:
    """Give every run its label and every (run, system) its display name; return the names.

    A system name that only one run holds keeps its name; one that several hold becomes
    ``run:system`` in each.
    """
    for run, label in zip(runs, _labels([r.folder for r in runs]), strict=True):
        run.run = label
    counts = Counter(s.system for run in runs for s in run.systems)
    names = {}
    for run in runs:
        for system in run.systems:
            shared = counts[system.system] > 1
            names[(run.run, system.system)] = (
                f"{run.run}:{system.system}" if shared else (system.system)
            )
    return names


def renamed(run: BenchRun, names: dict[tuple[str, str], str]) -> BenchRun:
    """The run with its systems and results under their display names, each row its run."""
    systems = [s.model_copy(update={"system": names[(run.run, s.system)], "run": run.run})
               for s in run.systems]  # fmt: skip
    results = [r.model_copy(update={"system": names.get((run.run, r.system), r.system)})
               for r in run.results]  # fmt: skip
    return BenchRun(run.folder, systems, results, run.run)


def across_runs(
    runs: list[BenchRun], names: dict[tuple[str, str], str], shown: dict[str, SystemSummary]
) -> dict[str, tuple[SystemSummary, ...]]:
    """System name -> its rows (as shown) in every run that holds it, for names several hold."""
    rows: dict[str, list[SystemSummary]] = {}
    for run in runs:
        for system in run.systems:
            rows.setdefault(system.system, []).append(shown[names[(run.run, system.system)]])
    return {name: tuple(found) for name, found in rows.items() if len(found) > 1}

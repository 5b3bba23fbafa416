"""Training-curve comparison: does the DTA set train faster and lower than raw SFT?

For each training run (a folder with loss.jsonl): the minimum train and held-out loss, the step
it is reached at, and the first step at which each curve falls to a threshold (by default the
highest of the runs' minima, so every run reaches it and the step counts compare directly).
"""

from __future__ import annotations

from pathlib import Path

from dta_edge.config import FrozenModel
from dta_edge.errors import DataError
from dta_edge.layout import LOSS, LOSS_CURVES, LOSS_CURVES_PLOT
from dta_edge.plot_text import literal
from dta_edge.runs import recorded
from dta_edge.storage import atomic_write_json


class CurveStats(FrozenModel):
    """One run's curve figures."""

    run: str
    split: str
    points: int
    minimum: float
    minimum_step: int
    final: float
    steps_to_threshold: int | None


def _points(folder: Path, split: str) -> list[tuple[int, float]]:
    from dta_edge.records import LossPoint
    from dta_edge.storage import read_jsonl

    path = folder / LOSS
    if not path.exists():
        raise DataError(f"{path}: missing (not a `dta train` run folder)")
    return sorted((p.step, p.loss) for p in read_jsonl(path, LossPoint) if p.split == split)


def first_step_at_or_below(points: list[tuple[int, float]], threshold: float) -> int | None:
    """The first step with loss at or below ``threshold``; None if the curve never gets there."""
    return next((step for step, loss in points if loss <= threshold), None)


def compare_curves(
    runs: dict[str, Path], threshold: float | None = None, split: str = "eval"
) -> tuple[list[CurveStats], float]:
    """Stats per run for one split; returns them and the threshold used."""
    curves = {name: _points(folder, split) for name, folder in runs.items()}
    empty = [name for name, points in curves.items() if not points]
    if empty:
        raise DataError(f"no {split} loss points in: {', '.join(empty)}")
    if threshold is None:
        threshold = max(min(loss for _, loss in points) for points in curves.values())
    stats = []
    for name, points in curves.items():
        step, minimum = min(points, key=lambda p: (p[1], p[0]))
        stats.append(CurveStats(
            run=name, split=split, points=len(points), minimum=minimum, minimum_step=step,
            final=points[-1][1], steps_to_threshold=first_step_at_or_below(points, threshold),
        ))  # fmt: skip
    return stats, threshold


@recorded("analyze.loss")
def write_loss_analysis(runs: dict[str, Path], out_dir: Path, threshold: float | None) -> Path:
    """loss_curves.json and loss_curves.png (both splits) under ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict = {"runs": {k: str(v) for k, v in runs.items()}}
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    for axis, split in zip(axes, ("train", "eval"), strict=True):
        try:
            stats, used = compare_curves(runs, threshold, split)
        except DataError:
            continue
        result[split] = {"threshold": used, "runs": [s.model_dump() for s in stats]}
        for index, name in enumerate(runs):
            points = _points(runs[name], split)
            axis.plot(*zip(*points, strict=True), "-o" if split == "eval" else "-",
                      color=f"C{index}", markersize=3, label=literal(name))  # fmt: skip
        axis.axhline(used, color="grey", linestyle=":", label=f"threshold {used:.3f}")
        axis.set_title(f"{split} loss")
        axis.set_xlabel("optimiser step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_dir / LOSS_CURVES_PLOT)
    plt.close(figure)
    path = out_dir / LOSS_CURVES
    atomic_write_json(path, result)
    return path

"""The loss-curve PNG written next to every trained adapter."""

from __future__ import annotations

from pathlib import Path

from dta_edge.plot_text import literal


def plot_loss(loss_file: Path, png: Path, title: str = "") -> Path:
    """Train and held-out loss against the optimiser step."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    from dta_edge.records import LossPoint
    from dta_edge.storage import read_jsonl

    points = read_jsonl(loss_file, LossPoint)
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=110)
    for split, style in (("train", "-"), ("eval", "o--")):
        mine = sorted((p.step, p.loss) for p in points if p.split == split)
        if mine:
            axes.plot(*zip(*mine, strict=True), style, label=f"{split} loss")
    axes.set_xlabel("optimiser step")
    axes.set_ylabel("loss (assistant tokens)")
    axes.set_title(literal(title), fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(png)
    plt.close(figure)
    return png

"""`dta analyze`: the paper's supporting analyses, each writing JSON + PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge._console import make_console

analyze_app = typer.Typer(help="Analyses behind the method's claims (JSON + PNG per analysis).")
out = make_console()


@analyze_app.command("loss")
def loss(
    runs: Annotated[
        list[str], typer.Argument(help="NAME=TRAIN_DIR pairs, e.g. dta=runs/train-dta")
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/analysis"
    ),
    threshold: Annotated[
        float | None, typer.Option(help="Loss to reach; default: the highest of the minima.")
    ] = None,
) -> None:
    """Overlay training and held-out loss; minimum, its step, and steps to a threshold."""
    from dta_edge.analysis.loss_curves import write_loss_analysis
    from dta_edge.errors import DataError

    pairs = {}
    for item in runs:
        name, _, folder = item.partition("=")
        if not folder:
            raise DataError(f"'{item}': give NAME=TRAIN_DIR")
        pairs[name] = Path(folder)
    path = write_loss_analysis(pairs, out_path, threshold)
    import json

    result = json.loads(path.read_text())
    for split in ("train", "eval"):
        if split in result:
            out.print(f"{split} (threshold {result[split]['threshold']:.4f}):")
            for s in result[split]["runs"]:
                out.print(f"  {s['run']}: min {s['minimum']:.4f} at step {s['minimum_step']}, "
                          f"reaches the threshold at step {s['steps_to_threshold']}")  # fmt: skip
    out.print(f"[bold]{path}[/bold] and [bold]{path.with_suffix('.png')}[/bold]")

"""`dta train`: fine-tune the student on a curated set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge._console import make_console

out = make_console()


def train_command(
    recipe: Annotated[Path, typer.Option(help="curation/train-<name>.yaml (kind train-recipe).")],
    data: Annotated[Path, typer.Option(help="sft.jsonl (DTA) or distilled.jsonl (control).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Run folder (resumable).")],
    full: Annotated[bool, typer.Option("--full", help="Full fine-tune (small models).")] = False,
    targets_dir: Annotated[Path, typer.Option(help="Export targets, for embedded:tiny@T.")] = Path(
        "export"
    ),
) -> None:
    """LoRA fine-tune (or --full) with trl's SFTTrainer; loss on assistant tokens only.

    Writes adapter/ (or model/), loss.jsonl, loss.png and train.json into --out; a rerun resumes
    from the last checkpoint in --out/checkpoints.
    """
    from dta_edge.config import load_config
    from dta_edge.runs import run_record
    from dta_edge.train.recipe import TrainRecipe
    from dta_edge.train.sft import train

    spec = load_config(recipe, TrainRecipe)
    config = {"recipe": spec.model_dump(mode="json"), "data": str(data), "full": full}
    with run_record(out_path, "train", config):
        summary = train(spec, data, out_path, full=full, targets_dir=targets_dir,
                        log=lambda m: out.print(f"[bold]{m}[/bold]"))  # fmt: skip
    eval_loss = summary["eval_loss"]
    out.print(
        f"{summary['steps']} steps in {summary['seconds']:.1f} s "
        f"({summary['tokens_per_s']:.0f} tokens/s); train loss {summary['train_loss']:.3f}"
        + (f", eval loss {eval_loss:.3f}" if eval_loss is not None else "")
    )
    out.print(f"{'model' if full else 'adapter'} in [bold]{summary['output']}[/bold]; "
              f"loss curve in [bold]{out_path / 'loss.png'}[/bold]")  # fmt: skip

"""`dta train`: fine-tune the student on a curated set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import Overwrite, TargetsDir, console
from dta_edge.cli.curate import recipe_names


def train_command(
    recipe: Annotated[
        Path,
        typer.Option(
            help="A train recipe YAML, or a shipped one's name: "
            f"{', '.join(recipe_names('train-recipe'))}."
        ),
    ],
    data: Annotated[Path, typer.Option(help="sft.jsonl (DTA) or distilled.jsonl (control).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Run folder (resumable).")] = Path(
        "runs/train"
    ),
    full: Annotated[bool, typer.Option("--full", help="Full fine-tune (small models).")] = False,
    overwrite: Overwrite = False,
    targets_dir: TargetsDir = None,
) -> None:
    """LoRA fine-tune (or --full) with trl's SFTTrainer; loss on assistant tokens only.

    Writes adapter/ (or model/), loss.jsonl, loss.png and train.json into --out; a rerun resumes
    from the last checkpoint in --out/checkpoints.
    """
    from dta_edge.config import load_config
    from dta_edge.config_checks import check_references
    from dta_edge.export.embedded import exporting_resolver
    from dta_edge.shipped import resolve_file
    from dta_edge.train.recipe import TrainRecipe
    from dta_edge.train.sft import train

    recipe = resolve_file(recipe, "curation")
    spec = load_config(recipe, TrainRecipe)
    check_references(spec, recipe)
    summary = train(
        spec, data, out_path, full=full, resolve=exporting_resolver(targets_dir),
        log=lambda m: console.print(f"[bold]{m}[/bold]"), overwrite=overwrite,
    )  # fmt: skip
    if summary is None:  # another rank of a torchrun / accelerate launch: rank 0 reports
        return
    eval_loss = summary.eval_loss
    console.print(
        f"{summary.steps} steps in {summary.seconds:.1f} s "
        f"({summary.tokens_per_s or 0:.0f} tokens/s); train loss {summary.train_loss:.3f}"
        + (f", eval loss {eval_loss:.3f}" if eval_loss is not None else "")
    )
    console.print(f"{'model' if full else 'adapter'} in [bold]{summary.output}[/bold]; "
              f"loss curve in [bold]{out_path / 'loss.png'}[/bold]")  # fmt: skip

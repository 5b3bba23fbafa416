"""`dta model`: build the embedded tiny model, check how a model answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import ConfigOpt, console, overrides, progress_bar

model_app = typer.Typer(
    help="Build the embedded tiny Qwen3 model and check how it answers.", no_args_is_help=True
)


@model_app.command("tiny")
def model_tiny(
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to receive the model (a new one).")
    ] = Path("runs/model/tiny"),
    config: ConfigOpt = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of tokenizer, weights and batches.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Pre-training steps.")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Build cache (default: the user cache dir).")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="If --out holds a model, move it aside and copy anew."),
    ] = False,
) -> None:
    """Build (or take from cache) the embedded tiny Qwen3 and copy it to --out (a new folder).

    Examples:
      dta model tiny --out runs/model/tiny
      dta model tiny --config demo-student --out runs/model/student
    """
    from dta_edge.models.tiny import export_tiny_model, holds_build, tiny_model
    from dta_edge.models.tiny_config import TinyModelConfig
    from dta_edge.run_folder import check_new_folder

    recipe = overrides(TinyModelConfig, config, seed=seed, steps=steps)
    if not holds_build(out_path, recipe.cache_key()):  # refused before minutes of building
        check_new_folder(out_path, overwrite=overwrite, marker="config.json")
    with progress_bar(console, "pre-training tiny Qwen3", recipe.steps) as advance:
        build = tiny_model(
            recipe, cache_dir=cache_dir, on_step=lambda s, _t, loss: advance(s, f"loss {loss:.3f}")
        )
        advance(recipe.steps, "cached" if build.cached else "")
    export_tiny_model(build, out_path, overwrite=overwrite)
    info = build.info
    console.print(
        f"tiny model ({info['parameters']:,} parameters, vocab {info['vocab_size']}) "
        f"in [bold]{out_path}[/bold]; {'from cache' if build.cached else 'built'} "
        f"({info['build_seconds']} s build, final loss {info['final_loss']:.3f})"
    )


@model_app.command("check")
def model_check(
    model: Annotated[
        str, typer.Argument(help="A transformers model folder, or a hub id from the cache.")
    ],
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for completions, scores and check.json.")
    ] = Path("runs/model/check"),
    n: Annotated[int, typer.Option(help="Held-out generated problems.")] = 200,
    seed: Annotated[
        int,
        typer.Option(help="Problem seed; questions a tiny model trained on are skipped."),
    ] = 7,
    thinking: Annotated[bool, typer.Option(help="Qwen3 enable_thinking.")] = False,
    max_new_tokens: Annotated[
        int, typer.Option("--max-tokens", "--max-new-tokens", help="Generation budget per answer.")
    ] = 256,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="If --out holds another check, move it aside.")
    ] = False,
) -> None:
    """Answer held-out problems greedily: well-formed rate and pass@1 by difficulty.

    Examples:
      dta model check runs/model/tiny --n 200 --out runs/model/check
      dta model check Qwen/Qwen3-0.6B --thinking --out runs/check-qwen
    """
    from dta_edge.errors import ModelError
    from dta_edge.models.evaluate import check_model
    from dta_edge.models.references import resolve_model

    if Path(model).is_file():
        raise ModelError(
            f"{model}: a file; `dta model check` takes a transformers folder (bench a GGUF with "
            f"`dta bench`)"
        )
    folder = Path(resolve_model(model))
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder}: no such transformers model folder (no config.json)")
    with progress_bar(console, "answering", n) as advance:
        result = check_model(
            folder,
            out_path,
            n=n,
            seed=seed,
            thinking=thinking,
            max_new_tokens=max_new_tokens,
            overwrite=overwrite,
            on_batch=advance,
        )
    summary = result.summary
    low, high = summary.pass_at_1_ci95
    console.print(
        f"well-formed {result.well_formed_rate:.1%}  answered {summary.answered_rate:.1%}  "
        f"pass@1 {summary.pass_at_1:.1%} [{low:.1%}, {high:.1%}]"
    )
    console.print(
        "pass@1 by difficulty: "
        + ", ".join(f"{k} {v:.1%}" for k, v in summary.by_difficulty.items())
    )
    console.print(f"details in [bold]{out_path / 'check.json'}[/bold]")

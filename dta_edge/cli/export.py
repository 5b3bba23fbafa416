"""`dta export`: its own module to keep cli.py small; the same thin-command rules apply."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import Overwrite, console
from dta_edge.config import load_config


class ParityChoice(str, Enum):
    """`--parity` values (the target's own default is auto)."""

    quick = "quick"
    full = "full"
    off = "off"


export_app = typer.Typer(
    help="Export a model (plus a LoRA adapter) for a device: GGUF for llama.cpp, merged "
    "safetensors for vLLM; parity measured and recorded in manifest.json.",
)


@export_app.callback(invoke_without_command=True)
def export(
    ctx: typer.Context,
    target: Annotated[
        Path | None, typer.Option(help="A target YAML, or a shipped target's name (see --list).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Source transformers folder, or a hub id (Qwen/Qwen3-8B) from the "
            "Hugging Face cache, fetched when online."
        ),
    ] = None,
    adapter: Annotated[Path | None, typer.Option(help="peft LoRA adapter to merge first.")] = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/export"
    ),
    list_targets: Annotated[bool, typer.Option("--list", help="List the shipped targets.")] = False,
    targets_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of target YAMLs (default: the shipped targets)."),
    ] = None,
    overwrite: Overwrite = False,
    parity: Annotated[
        ParityChoice | None,
        typer.Option(
            help="How much parity to measure: full (every parity text, whole length), quick "
            "(4 texts cut to 64 tokens; the default above 1e9 weights), off (none; the manifest "
            "says so). Default: the target's setting (auto).",
        ),
    ] = None,
) -> None:
    r"""Export --model for --target into --out (see --list for the shipped targets).

    Examples:
      dta export --list
      dta export --target cpu-gguf-q8_0 --model embedded:tiny --out runs/export
      dta export --target jetson-orin-gguf-q4_k_m --model Qwen/Qwen3-8B \\
          --adapter runs/train-dta/adapter --out runs/orin
    """
    from dta_edge.export.runner import export_model
    from dta_edge.export.targets import ExportTarget, shipped_targets
    from dta_edge.models.references import resolve_model
    from dta_edge.shipped import resolve_file, shipped_folder

    if ctx.invoked_subcommand is not None:
        return
    if list_targets:
        from rich.table import Table

        table = Table("target", "format", "quantization", "provider", "profile", "description")
        for name, path in shipped_targets(targets_dir or shipped_folder("export")).items():
            spec = load_config(path, ExportTarget)
            provider = spec.provider if spec.format == "onnx" else "-"
            table.add_row(
                name, spec.format, spec.quantization, provider, spec.profile, spec.description
            )
        console.print(table)
        return
    if target is None or model is None:
        raise typer.BadParameter("give --target and --model (or --list)")
    if targets_dir is not None and (targets_dir / f"{target}.yaml").is_file():
        target_file = targets_dir / f"{target}.yaml"
    else:
        target_file = resolve_file(target, "export")
    spec = load_config(target_file, ExportTarget)
    source = Path(resolve_model(model))  # a hub id: its folder in the Hugging Face cache
    from dta_edge._console import step_bars

    with step_bars(console) as advance:
        manifest = export_model(
            spec, source, out_path, adapter, on_stage=lambda m: console.print(f"[bold]{m}[/bold]"),
            overwrite=overwrite, parity=parity.value if parity else None, on_progress=advance,
        )  # fmt: skip
    for item in manifest.files:
        console.print(f"  {item.path}  {item.bytes / 2**20:.2f} MiB  sha256 {item.sha256[:12]}")
    console.print(
        f"parity ({manifest.parity_mode}): "
        + ", ".join(f"{k} {v:.6g}" for k, v in manifest.parity.items())
    )
    if manifest.parity_unavailable:
        console.print(f"[yellow]parity not measured here[/yellow]: {manifest.parity_unavailable}")
    for step, cost in manifest.steps.items():
        memory = f", peak RSS {cost.peak_rss_mib:.0f} MiB" if cost.peak_rss_mib else ""
        console.print(f"  {step}: {cost.seconds:.1f} s{memory}")
    console.print(
        f"{manifest.seconds:.1f} s, peak RSS {manifest.peak_rss_mib:.0f} MiB; "
        f"manifest in [bold]{out_path / 'manifest.json'}[/bold]"
    )


@export_app.command("verify")
def export_verify(
    folder: Annotated[Path, typer.Argument(help="An export folder with manifest.json.")],
) -> None:
    """Re-hash the exported files and re-measure parity; exit 1 if anything moved.

    Examples:
      dta export verify runs/export
    """
    from dta_edge.export.runner import verify_export

    result = verify_export(folder)
    for key, value in result.parity_now.items():
        console.print(f"  {key}: manifest {result.parity_recorded.get(key)}  now {value}")
    if result.problems:
        for problem in result.problems:
            console.print(f"[red]{problem}[/red]")
        raise typer.Exit(1)
    if result.parity_unavailable:
        console.print(f"[yellow]files verified; parity not measured here[/yellow]: "
                  f"{result.parity_unavailable}")  # fmt: skip
        return
    console.print("[green]verified[/green]: files match their sha256 and parity is unchanged")

"""`dta problems`: generate telecom problems, list the families, load benchmark sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import ConfigOpt, Overwrite, console, overrides, parse_key_values
from dta_edge.config import load_config

problems_app = typer.Typer(
    help="Generate telecom problems or load benchmark sets (TeleMath, GSM8K, MATH).",
    no_args_is_help=True,
)


@problems_app.command("generate")
def problems_generate(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="A .jsonl file, or a run folder (gets problems.jsonl and run.json)."
        ),
    ] = Path("runs/problems"),
    config: ConfigOpt = None,
    n: Annotated[int | None, typer.Option(help="Number of problems.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed; same seed, same bytes.")] = None,
    families: Annotated[
        str | None,
        typer.Option(help="Comma-separated family names (see `dta problems families`)."),
    ] = None,
    difficulty: Annotated[str | None, typer.Option(help="basic, advanced or mixed.")] = None,
    tier: Annotated[
        str | None,
        typer.Option(help="standard, or demo (small integers a laptop-sized model can learn)."),
    ] = None,
    solution_format: Annotated[
        str | None,
        typer.Option(
            help="steps (one operation per step), oneshot (demo tier: one line) or answer "
            "(the boxed answer alone)."
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Generate telecom-mathematics problems with verified numeric answers and worked solutions.

    Examples:
      dta problems generate --n 500 --seed 0 --out runs/problems
      dta problems generate --config problems --difficulty basic --out basic.jsonl
    """
    from dta_edge.tasks.generator import ProblemsConfig, write_problems

    family_list = [f.strip() for f in families.split(",") if f.strip()] if families else None
    recipe = overrides(
        ProblemsConfig, config, n=n, seed=seed, families=family_list, difficulty=difficulty,
        tier=tier, solution_format=solution_format,
    )  # fmt: skip
    path = write_problems(recipe, out_path, overwrite=overwrite)
    console.print(f"wrote {recipe.n} problems to [bold]{path}[/bold]")


@problems_app.command("families")
def problems_families() -> None:
    """List the generator's problem families, their tier and TeleMath category.

    Examples:
      dta problems families
    """
    from rich.table import Table

    from dta_edge.tasks.telecom import TIERS

    table = Table("family", "tier", "category")
    for tier, registry in TIERS.items():
        for family in sorted(registry.values(), key=lambda f: (f.category, f.name)):
            table.add_row(family.name, tier, family.category)
    console.print(table)
    console.print(", ".join(f"{len(registry)} {tier}" for tier, registry in TIERS.items())
                  + " families")  # fmt: skip


@problems_app.command("load")
def problems_load(
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the problems (a .jsonl file).")
    ] = Path("runs/problems/loaded.jsonl"),
    path: Annotated[
        Path | None,
        typer.Argument(help="JSON, JSONL, CSV or Parquet file, or a datasets folder."),
    ] = None,
    hf: Annotated[
        str | None,
        typer.Option("--hf", help="Hub data set id, e.g. netop/TeleMath (needs hub access)."),
    ] = None,
    preset: Annotated[
        str,
        typer.Option("--format", help="telemath, gsm8k or math: the field mapping to start from."),
    ] = "telemath",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Override a mapping field, e.g. --map question=prompt."),
    ] = None,
    split: Annotated[str, typer.Option(help="Split of a datasets folder or hub set.")] = "test",
    config: ConfigOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it exists.")
    ] = False,
) -> None:
    """Load a benchmark into problem records, checking every row's fields.

    The field mapping starts from --format (or a field-map YAML given with --config); each --map
    overrides one field.
    """
    from dta_edge.config import validate_mapping
    from dta_edge.storage import write_jsonl
    from dta_edge.tasks.loaders import PRESETS, FieldMap, load_problems, read_hub_rows, read_rows

    if (path is None) == (hf is None):
        raise typer.BadParameter("give a local PATH or --hf NAME, not both and not neither")
    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown --format '{preset}'; valid: {', '.join(PRESETS)}")
    fields = (load_config(config, FieldMap) if config else PRESETS[preset]).model_dump()
    for key, value in parse_key_values(mapping, "--map").items():
        fields[key] = value if value.lower() not in ("true", "false") else value.lower() == "true"
    field_map = validate_mapping(FieldMap, fields, "--map")
    rows = read_rows(path, split) if path is not None else read_hub_rows(hf, split)  # type: ignore[arg-type]
    problems = load_problems(rows, field_map, str(path) if path is not None else str(hf))
    if out_path.exists() and not overwrite:
        from dta_edge.errors import DataError

        raise DataError(
            f"{out_path}: exists; pass --overwrite to replace it, or choose another --out"
        )
    write_jsonl(out_path, problems)
    console.print(f"wrote {len(problems)} problems to [bold]{out_path}[/bold]")

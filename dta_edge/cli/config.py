"""`dta config`: show a config resolved, or validate configs and what they name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge._console import make_console
from dta_edge.cli._common import console
from dta_edge.config import dump_config, load_config
from dta_edge.errors import DtaError

config_app = typer.Typer(
    help="Inspect and validate YAML recipes, targets, suites and profiles.", no_args_is_help=True
)


@config_app.command("show")
def config_show(
    file: Annotated[Path, typer.Argument(help="A YAML file with a 'kind' key, or a shipped name.")],
) -> None:
    """Validate a config and print it resolved, every default filled in.

    Examples:
      dta config show cpu
      dta config show curation/telemath-qwen3.yaml
    """
    from dta_edge.shipped import resolve_config

    console.print(dump_config(load_config(resolve_config(file))), end="", markup=False)


@config_app.command("validate")
def config_validate(
    files: Annotated[
        list[Path], typer.Argument(help="YAML files to check, or shipped names (demo, cpu, ...).")
    ],
    schema_only: Annotated[
        bool,
        typer.Option(
            "--schema-only",
            help="Check keys and values only, not the files and models the config names (for "
            "a recipe meant for another machine).",
        ),
    ] = False,
) -> None:
    """Check configs: schema, every file and model they name, every backend option.

    Reports every problem with file, line and key path; exit 2 if any file has one.
    """
    from rich.markup import escape

    from dta_edge.config_checks import check_references
    from dta_edge.shipped import resolve_configs

    failed = 0
    for given in files:
        try:
            found = resolve_configs(given)
        except DtaError as exc:
            failed += 1
            make_console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
            continue
        for file in found:
            try:
                config = load_config(file)
                if not schema_only:
                    check_references(config, file)
            except DtaError as exc:
                failed += 1
                make_console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
                continue
            console.print(f"[green]ok[/green] {file} ({config.kind})")
    if failed:
        raise typer.Exit(2)


@config_app.command("schemas")
def config_schemas(
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the <kind>.schema.json files.")
    ] = Path("docs/schemas"),
) -> None:
    """Write the JSON Schema of every file a run writes (records, summaries, manifests).

    Examples:
      dta config schemas --out docs/schemas
    """
    from dta_edge.record_schemas import write_schemas

    paths = write_schemas(out_path)
    console.print(f"{len(paths)} schemas in [bold]{out_path}[/bold]")

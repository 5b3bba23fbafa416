"""What the command modules share: the console, common options, the KEY=VALUE parser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dta_edge._console import make_console, progress_bar

__all__ = ["ConfigOpt", "Overwrite", "TargetsDir", "console", "overrides", "parse_key_values",
           "progress_bar"]  # fmt: skip

console = make_console()

Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="If --out holds a run of another config, move it aside and start anew.",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config or a shipped name; flags override it."),
]


TargetsDir = Annotated[
    Path | None,
    typer.Option(help="Export targets for embedded:tiny@T (default: the shipped ones)."),
]


def overrides(config_type, config_path: Path | None, **flags):
    """Config from file (or defaults) with the explicitly given flags applied on top."""
    from dta_edge.config import load_config, validate_mapping
    from dta_edge.shipped import resolve_config

    base = load_config(resolve_config(config_path), config_type) if config_path else config_type()
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return base
    return validate_mapping(
        config_type, {**base.model_dump(mode="json"), **given}, config_path or "<command line>"
    )


def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; a missing ``=`` names the option."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{option} expects KEY=VALUE, got '{item}'")
        parsed[key.strip()] = value
    return parsed


def json_or_text(value: str) -> Any:
    """An option value as JSON where it parses (numbers, booleans, lists), else the text."""
    import json

    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value

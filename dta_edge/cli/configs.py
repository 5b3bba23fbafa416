"""`dta configs`: list the shipped suites, profiles, recipes, targets and prompts, and copy one.

A new user starts from a shipped file rather than a blank one (as `tune ls` / `tune cp`): list
what ships, copy it next to their work, edit it, pass its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import console

configs_app = typer.Typer(
    help="List the shipped configs (suites, profiles, recipes, targets, prompts) and copy one "
    "to edit.",
    no_args_is_help=True,
)

# kind as `dta configs list KIND` takes it -> (shipped folder, file pattern, YAML kinds in it)
KINDS = {
    "suite": ("bench", "*.yaml", ("bench-suite", "reported")),
    "profile": ("profiles", "*.yaml", ("profile",)),
    "recipe": ("curation", "*.yaml", ("curation-recipe", "train-recipe", "tiny-model",
                                      "problems", "score", "field-map")),
    "target": ("export", "*.yaml", ("export-target",)),
    "prompt": ("curation/prompts", "*.jinja", ()),
    "lexicon": ("analysis", "*.yaml", ("lexicon",)),
}  # fmt: skip


def shipped_configs(kind: str | None = None) -> list[tuple[str, str, Path, str]]:
    """(kind, name, path, description) of every shipped config, or those of one kind."""
    import yaml

    from dta_edge.shipped import shipped_folder

    found = []
    for name_of_kind, (folder, pattern, _) in KINDS.items():
        if kind is not None and kind != name_of_kind:
            continue
        for path in sorted(shipped_folder(folder).glob(pattern)):
            description = ""
            if path.suffix == ".yaml":
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                description = str(data.get("description", "")) if isinstance(data, dict) else ""
            found.append((name_of_kind, path.stem, path, description))
    return found


@configs_app.command("list")
def configs_list(
    kind: Annotated[str | None, typer.Argument(help=f"Only this kind: {', '.join(KINDS)}.")] = None,
) -> None:
    """List the shipped configs: kind, name (what --suite/--profile/--recipe/--target take), file.

    Examples:
      dta configs list
      dta configs list profile
    """
    from rich.table import Table

    if kind is not None and kind not in KINDS and kind.removesuffix("s") in KINDS:
        kind = kind.removesuffix("s")  # "profiles" as the folder is named
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    table = Table("kind", "name", "file", "description")
    for found_kind, name, path, description in shipped_configs(kind):
        table.add_row(found_kind, name, str(path), description)
    console.print(table)


@configs_app.command("copy")
def configs_copy(
    name: Annotated[str, typer.Argument(help="A shipped name (see `dta configs list`).")],
    dest: Annotated[
        Path | None, typer.Argument(help="Where to copy it (default: ./NAME.yaml).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(help=f"The kind, where two kinds ship the name: {', '.join(KINDS)}."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace DEST if it exists.")
    ] = False,
) -> None:
    """Copy a shipped config to edit it; pass the copy's path wherever the name was taken.

    Examples:
      dta configs copy cpu my-laptop.yaml
      dta configs copy demo --kind suite my-suite.yaml
    """
    import difflib
    import shutil

    from dta_edge.errors import ConfigError, DataError

    matches = [(k, path) for k, n, path, _ in shipped_configs(kind) if n == name]
    if not matches:
        every = sorted({n for _, n, _, _ in shipped_configs(kind)})
        close = difflib.get_close_matches(name, every, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(name, [f"no shipped config of that name{hint} (`dta configs list`)"])
    if len(matches) > 1:
        kinds = ", ".join(k for k, _ in matches)
        raise ConfigError(name, [f"shipped as several kinds ({kinds}); choose one with --kind"])
    source = matches[0][1]
    target = dest or Path(source.name)
    if target.is_dir():
        target = target / source.name
    if target.exists() and not overwrite:
        raise DataError(f"{target}: exists; pass --overwrite to replace it")
    shutil.copyfile(source, target)
    console.print(f"copied {source} to [bold]{target}[/bold]")

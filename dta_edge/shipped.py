"""The recipes, targets, suites, profiles, prompts and lexicon that ship with dta-edge.

They live in the checkout's top-level folders (curation/, export/, bench/, profiles/,
analysis/) and are copied into the wheel as ``dta_edge/_shipped/<folder>``, so an installed
package finds them from any working directory. A user names one (``--target cpu-gguf-q8_0``,
``--suite demo``, ``--profile cpu``, ``--recipe demo``) or gives a path; a path that exists
always wins.
"""

from __future__ import annotations

from pathlib import Path

from dta_edge.errors import ConfigError


def shipped_root() -> Path:
    """The folder holding the shipped declaration folders.

    An installed wheel carries them inside the package; an editable install (a checkout) reads
    them from the checkout itself, so edits show at once.
    """
    package = Path(__file__).resolve().parent
    inside = package / "_shipped"
    if inside.is_dir():
        return inside
    return package.parent


def shipped_folder(folder: str) -> Path:
    """One shipped folder, e.g. ``shipped_folder("export")`` for the export targets."""
    return shipped_root() / folder


def shipped_names(folder: str, suffix: str = ".yaml") -> dict[str, Path]:
    """Shipped files of ``folder`` by name (stem), as `--list` style commands show them."""
    return {path.stem: path for path in sorted(shipped_folder(folder).glob(f"*{suffix}"))}


def resolve_file(
    value: str | Path, folder: str, *, relative_to: Path | None = None, suffix: str = ".yaml"
) -> Path:
    """Turn what a user or a config wrote into a file that exists.

    Tried in order: the path as given (relative to the working directory); relative to the
    folder of the config that referred to it (``relative_to``); a shipped path
    (``curation/prompts/judge.jinja``); a shipped name in ``folder`` (``demo`` ->
    ``bench/demo.yaml``).

    Raises:
        ConfigError: nothing matched; the message lists the shipped names of ``folder``.
    """
    path = Path(value)
    candidates = [path]
    if relative_to is not None and not path.is_absolute():
        candidates.append(relative_to / path)
    if not path.is_absolute():
        candidates.append(shipped_root() / path)
        name = path.name if path.suffix == suffix else path.name + suffix
        if path.parent in (Path("."), Path(folder)):
            candidates.append(shipped_folder(folder) / name)
    if path.exists() and not path.is_dir():
        return path  # a pipe or device as given: its reader refuses it, naming what it is
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    import difflib

    shipped = list(shipped_names(folder, suffix))
    close = difflib.get_close_matches(path.stem, shipped, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    names = ", ".join(shipped) or "none"
    raise ConfigError(
        path, [f"no such file, and no shipped {folder} file of that name{hint} (shipped: {names})"]
    )


FOLDERS = ("bench", "profiles", "curation", "export", "analysis")  # where shipped configs live


def resolve_configs(value: str | Path) -> list[Path]:
    """Config files given by path, or every shipped config of a name.

    ``demo`` names two: a bench suite and a curation recipe.

    Raises:
        ConfigError: neither a file nor a shipped name; the closest names are suggested.
    """
    import difflib

    path = Path(value)
    if path.is_file() or path.suffix or path.parent != Path("."):
        return [resolve_file(path, "curation")]  # a path: as given, or under the shipped root
    found = [shipped_names(folder)[str(path)] for folder in FOLDERS
             if str(path) in shipped_names(folder)]  # fmt: skip
    if found:
        return found
    every = sorted({name for folder in FOLDERS for name in shipped_names(folder)})
    close = difflib.get_close_matches(str(path), every, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(path, [f"no such file, and no shipped config of that name{hint}"])


def resolve_config(value: str | Path) -> Path:
    """One config file by path or shipped name.

    Raises:
        ConfigError: as :func:`resolve_configs`, or a name two folders ship (both named).
    """
    found = resolve_configs(value)
    if len(found) > 1:
        raise ConfigError(value, [f"shipped as {' and '.join(map(str, found))}; give the path"])
    return found[0]

"""The docs hold together: every relative link resolves, every `dta` command quoted parses."""

from __future__ import annotations

import re
import shlex

import pytest

from .conftest import REPO

PAGES = [REPO / "README.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"```(?:bash|sh)?\n(.*?)```", re.S)


def _links(page):
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if not target.startswith(("http://", "https://", "mailto:", "#")):
            yield target.split("#", 1)[0]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    broken = [t for t in _links(page) if t and not (page.parent / t).exists()]
    assert broken == []


def _commands(page) -> list[list[str]]:
    found = []
    for block in _FENCE.findall(page.read_text(encoding="utf-8")):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("dta "):
                found.append(shlex.split(line, comments=True)[1:])
    return found


README_COMMANDS = _commands(REPO / "README.md")
ALL_COMMANDS = [args for page in PAGES for args in _commands(page)]


def test_the_readme_quotes_commands():
    assert len(README_COMMANDS) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("args", ALL_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_quoted_command_parses(args):
    """Each command's path exists and its options parse (nothing runs)."""
    import typer
    from typer._click.exceptions import UsageError  # typer vendors its own click
    from typer.main import get_command

    from dta_edge.cli import app

    command = get_command(app)
    rest = list(args)
    while rest and rest[0] in getattr(command, "commands", {}):
        command = command.commands[rest.pop(0)]
    try:
        command.make_context(command.name or "dta", rest, resilient_parsing=False)
    except typer.Exit:
        pass
    except UsageError as exc:
        pytest.fail(f"dta {' '.join(args)}: {exc.format_message()}")


def _command_paths(command=None, path=()):
    """Every leaf command of `dta` as its argument path."""
    from typer.main import get_command

    from dta_edge.cli import app

    command = command or get_command(app)
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [list(path)]
    return [p for name, sub in subcommands.items() for p in _command_paths(sub, (*path, name))]


@pytest.mark.slow
def test_no_help_page_shows_a_flag_as_taking_a_value(monkeypatch, capsys):
    """`--overwrite` is a flag: its help row must not read `--overwrite <bool>`."""
    from dta_edge.cli import main

    paths = _command_paths()
    assert len(paths) >= 20
    monkeypatch.setenv("COLUMNS", "200")
    for path in [[], *paths]:
        monkeypatch.setattr("sys.argv", ["dta", *path, "-h"])
        with pytest.raises(SystemExit) as ended:
            main()
        page = capsys.readouterr().out
        assert ended.value.code == 0 and "Usage" in page, path
        assert "<bool>" not in page, f"dta {' '.join(path)} -h"


def test_the_committed_schemas_match_the_models():
    """docs/schemas/ is generated; a model changed without `dta config schemas` fails here."""
    from dta_edge.record_schemas import schema_texts

    folder = REPO / "docs" / "schemas"
    expected = schema_texts()
    committed = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.json")}
    stale = sorted(name for name in expected if committed.get(name) != expected[name])
    extra = sorted(set(committed) - set(expected))
    assert not stale and not extra, (
        f"stale {stale}, unknown {extra}: run `dta config schemas --out docs/schemas`"
    )

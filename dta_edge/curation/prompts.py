"""Prompt templates live as Jinja files under curation/prompts/, so users edit text, not code."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from dta_edge.errors import ConfigError


@lru_cache(maxsize=32)
def _template(path: str):
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from dta_edge.shipped import resolve_file

    file = resolve_file(path, "curation", suffix=".jinja")
    environment = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
    )
    return environment.from_string(file.read_text(encoding="utf-8"))


def render(path: str | Path, **values: Any) -> str:
    """Render a prompt file; a variable the template uses but is not given is an error."""
    from jinja2 import TemplateError

    try:
        return _template(str(path)).render(**values).strip()
    except TemplateError as exc:
        raise ConfigError(path, [f"template: {exc}"]) from None

"""Prompt templates live as Jinja files under curation/prompts/, so users edit text, not code.

A step compiles each template once (:class:`PromptTemplate`) and renders it per request; nothing
is cached at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dta_edge.errors import ConfigError


class PromptTemplate:
    """One prompt file, found (a path, or a shipped one) and compiled; rendered per request."""

    def __init__(self, path: str | Path) -> None:
        """Resolve and compile ``path``.

        Raises:
            ConfigError: the file is missing or is not a valid template.
        """
        from jinja2 import StrictUndefined, TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        from dta_edge.shipped import resolve_file

        self.path = Path(path)
        file = resolve_file(path, "curation", suffix=".jinja")
        environment = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=False,
        )  # fmt: skip
        try:
            self._template = environment.from_string(file.read_text(encoding="utf-8"))
        except TemplateError as exc:
            raise ConfigError(path, [f"template: {exc}"]) from None

    def render(self, **values: Any) -> str:
        """The prompt for ``values``; a variable the template uses but is not given is an error."""
        from jinja2 import TemplateError

        try:
            return self._template.render(**values).strip()
        except TemplateError as exc:
            raise ConfigError(self.path, [f"template: {exc}"]) from None


def render(path: str | Path, **values: Any) -> str:
    """Render a prompt file once (steps that render many keep a :class:`PromptTemplate`)."""
    return PromptTemplate(path).render(**values)

"""Prompt templates live as Jinja files under curation/prompts/, so users edit text, not code.

A step compiles each template once (:class:`PromptTemplate`) and renders it per request; nothing
is cached at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dta_edge.errors import ConfigError, DataError


class PromptTemplate:
    """One prompt file, found (a path, or a shipped one) and compiled; rendered per request."""

    def __init__(self, path: str | Path) -> None:
        """Resolve and compile ``path``.

        Raises:
            ConfigError: the file is missing or is not a valid template.
        """
        from jinja2 import StrictUndefined

        from dta_edge.models.template_sandbox import SandboxedTemplate
        from dta_edge.shipped import resolve_file
        from dta_edge.storage import read_text_file

        self.path = Path(path)
        file = resolve_file(path, "curation", suffix=".jinja")
        try:
            source = read_text_file(file)
        except DataError as exc:
            raise ConfigError(file, [str(exc)]) from None
        self._template = SandboxedTemplate(
            source, str(file), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=False,
        )  # fmt: skip

    def render(self, **values: Any) -> str:
        """The prompt for ``values``; a variable the template uses but is not given is an error.

        Raises:
            TemplateFault: (a ConfigError) naming the prompt file.
        """
        return self._template.render(**values).strip()


def render(path: str | Path, **values: Any) -> str:
    """Render a prompt file once (steps that render many keep a :class:`PromptTemplate`)."""
    return PromptTemplate(path).render(**values)

"""Text from files and models, made safe for the report's Markdown and CSV.

A system name, a model's answer or a token-shift word is someone else's text. In report.md it
is escaped so that no HTML (``<script>``, ``<svg onload>``), link or table cell can be injected
when a viewer renders the file; in results.csv a cell a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return first) is made plain text. report.html needs
neither: its Jinja environment escapes every value.
"""

from __future__ import annotations

import html
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# underscores are left alone: inside a word (q8_0) they are never emphasis in CommonMark
_MARKDOWN = re.compile(r"([\\`*\[\]|])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(value: object) -> str:
    """``value`` as inert Markdown text: one line, HTML escaped, markup characters escaped."""
    text = _CONTROL.sub(" ", str(value))
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string opening a formula gets a ``'`` first.

    Numbers are left as numbers (a negative value is data, not a formula).
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value

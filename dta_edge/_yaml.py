"""YAML loading that remembers where every key came from.

pydantic reports errors by key path; users fix files by line. Composing the node tree first
gives us a key-path -> line map to join the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dta_edge.errors import ConfigError
from dta_edge.textfile import UnreadableFile, read_user_text

KeyPath = tuple[str | int, ...]


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], dupes: list[str]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dupes.append(f"line {key_node.start_mark.line + 1}: duplicate key '{key}'")
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, dupes)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, dupes)


def _read_config_text(path: Path) -> str:
    """The file as UTF-8 text, or a ConfigError saying why it cannot be a config."""
    try:
        return read_user_text(path)
    except UnreadableFile as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        raise ConfigError(path, [where + exc.problem]) from None


MAX_DEPTH = 64  # our deepest config nests 5; a hostile one of 20,000 levels stops here


def _refuse_aliases_and_depth(path: Path, text: str) -> None:
    """Reject anchors, aliases and deep nesting before anything is built from them.

    Nested aliases expand exponentially once resolved (a 356-byte "billion laughs" file grows past
    gigabytes) and an alias may refer to itself; no shipped config needs them. Composing a node
    tree recurses once per level, so 20,000 nested lists would end in a RecursionError. The event
    stream is scanned instead, linear in the file's size and without recursion, and the first
    alias or the first level past :data:`MAX_DEPTH` is named.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                path,
                [
                    f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not "
                    "allowed in configs; write the values out"
                ],
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    path, [f"line {event.start_mark.line + 1}: nested over {MAX_DEPTH} levels deep"]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Read a YAML file and map each key path to its 1-based line.

    Raises:
        ConfigError: the file is missing, is not valid YAML, or repeats a key.
    """
    text = _read_config_text(path)
    try:
        _refuse_aliases_and_depth(path, text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None:
            problem += f" ({context} started on line {context_mark.line + 1})"
        raise ConfigError(path, [f"{where}not valid YAML: {problem}"]) from None
    lines: dict[KeyPath, int] = {}
    dupes: list[str] = []
    if root is not None:
        _walk(root, (), lines, dupes)
    if dupes:
        raise ConfigError(path, dupes)
    return data, lines


def line_of(lines: dict[KeyPath, int], loc: KeyPath) -> int | None:
    """Return the line of the deepest prefix of ``loc`` present in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None

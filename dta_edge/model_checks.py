"""Model files named by a config, checked the way config files are: before any run starts.

`dta config validate` (and every stage before it starts) opens each GGUF with the hardened
header reader, reads a transformers folder's config.json, refuses custom code and pickle-only
weights, and compiles the chat template with a trial render, so a broken or hostile model is
one line naming the file, not a crash of llama.cpp or a hang minutes into a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from dta_edge.errors import DtaError

TEMPLATE_KEY = "tokenizer.chat_template"


def _template_problems(source: object, origin: str) -> Iterator[str]:
    from dta_edge.models.chat import ChatTemplate

    try:
        ChatTemplate(source if isinstance(source, str) else None, origin)
    except DtaError as exc:
        yield str(exc)


def gguf_problems(path: Path) -> Iterator[str]:
    """What is wrong with a GGUF file: its header, tensor table and chat template."""
    from dta_edge.models.gguf_file import check_gguf
    from dta_edge.models.gguf_header import read_gguf_header

    try:
        check_gguf(path)
        template = read_gguf_header(path, keep=frozenset({TEMPLATE_KEY})).metadata.get(TEMPLATE_KEY)
    except DtaError as exc:
        yield str(exc)
        return
    yield from _template_problems(template, f"the chat template of {path}")


def _folder_template(folder: Path) -> object:
    """A transformers or ONNX GenAI folder's chat template text, or None."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8", errors="replace")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        return data.get("chat_template") if isinstance(data, dict) else None
    return None


def folder_problems(folder: Path, *, onnx: bool = False) -> Iterator[str]:
    """What is wrong with a local model folder: config, custom code, weights, chat template."""
    from dta_edge.models.hf_load import refuse_remote_code

    if not onnx:
        config = folder / "config.json"
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            yield f"{config}: not readable JSON ({exc})"
            return
        if not isinstance(data, dict) or not isinstance(data.get("model_type"), str):
            yield f"{config}: not a transformers config (no model_type)"
            return
        try:
            refuse_remote_code(folder)
        except DtaError as exc:
            yield str(exc)
            return
    try:
        template = _folder_template(folder)
    except (OSError, ValueError) as exc:
        yield f"{folder}: tokenizer_config.json is not readable JSON ({exc})"
        return
    yield from _template_problems(template, f"the chat template of {folder}")

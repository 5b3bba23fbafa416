"""The tokenizer half of a GGUF file: tokens, token types, merges, pre-tokenizer, special ids.

llama.cpp silently tokenizes wrong when any of these is missing or off, so everything is read from
the model's own tokenizer.json and tokenizer_config.json and checked, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dta_edge.errors import ExportError
from dta_edge.models.tokenizer import QWEN2_SPLIT_REGEX

# llama.cpp identifies a BPE pre-tokenizer by name; we recognise it by its split regex.
LLAMA3_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PRE_TOKENIZERS = {QWEN2_SPLIT_REGEX: "qwen2", LLAMA3_SPLIT_REGEX: "llama-bpe"}

# gguf.TokenType values, repeated here so this module imports without gguf.
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5


@dataclass(frozen=True)
class GGUFVocab:
    """Everything llama.cpp needs to reproduce the HF tokenizer."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre: str
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    add_bos: bool
    chat_template: str | None


def _split_regex(pre_tokenizer: dict | None) -> str | None:
    if not pre_tokenizer:
        return None
    parts = pre_tokenizer.get("pretokenizers", [pre_tokenizer])
    for part in parts:
        if part.get("type") == "Split":
            return part.get("pattern", {}).get("Regex")
    return None


def _token_id(name: object, vocab: dict[str, int]) -> int | None:
    if isinstance(name, dict):  # older configs store AddedToken dicts
        name = name.get("content")
    return vocab.get(name) if isinstance(name, str) else None


def read_vocab(model_dir: Path, vocab_size: int) -> GGUFVocab:
    """Build the GGUF vocabulary of a transformers folder with a byte-level BPE tokenizer.

    Args:
        model_dir: holds tokenizer.json and tokenizer_config.json (and maybe chat_template.jinja).
        vocab_size: the model's embedding rows; extra rows get unused "[PAD{i}]" tokens.

    Raises:
        ExportError: a missing or unsupported tokenizer, naming the file.
    """
    path = model_dir / "tokenizer.json"
    if not path.exists():
        raise ExportError(f"{path}: missing; GGUF export needs the fast tokenizer file")
    data = json.loads(path.read_text(encoding="utf-8"))
    model = data.get("model", {})
    if model.get("type") != "BPE":
        raise ExportError(
            f"{path}: tokenizer model '{model.get('type')}' is not supported (BPE only)"
        )
    regex = _split_regex(data.get("pre_tokenizer"))
    if regex not in PRE_TOKENIZERS:
        known = ", ".join(PRE_TOKENIZERS.values())
        raise ExportError(f"{path}: unknown pre-tokenizer split regex; supported: {known}")
    vocab: dict[str, int] = dict(model["vocab"])
    added = {t["content"]: t for t in data.get("added_tokens", [])}
    for content, token in added.items():
        vocab[content] = token["id"]
    size = max(vocab_size, max(vocab.values()) + 1)
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [UNUSED] * size
    for content, index in vocab.items():
        tokens[index] = content
        token = added.get(content)
        types[index] = (
            NORMAL if token is None else (CONTROL if token.get("special") else USER_DEFINED)
        )
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    template = config.get("chat_template")
    template_file = model_dir / "chat_template.jinja"
    if template is None and template_file.exists():
        template = template_file.read_text(encoding="utf-8")
    return GGUFVocab(
        tokens=tokens,
        token_types=types,
        merges=merges,
        pre=PRE_TOKENIZERS[regex],
        bos_id=_token_id(config.get("bos_token"), vocab),
        eos_id=_token_id(config.get("eos_token"), vocab),
        pad_id=_token_id(config.get("pad_token"), vocab),
        add_bos=bool(config.get("add_bos_token", False)),
        chat_template=template,
    )

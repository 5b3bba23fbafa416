"""The tokenizer half of a GGUF file: tokens, token types, merges, pre-tokenizer, special ids.

llama.cpp silently tokenizes wrong when any of these is missing or off, so everything is read from
the model's own tokenizer files and written as llama.cpp's own converter (convert_hf_to_gguf.py)
writes it: token types by its rules (an added token that is special, or merely looks like a
control token such as Qwen's `<|fim_prefix|>`, is CONTROL), and merges, special ids, whether to
add BOS/EOS (taken from the tokenizer's post-processor when tokenizer_config.json does not say,
as for Llama-3) and the chat template through gguf-py's SpecialVocab, the converter's own code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dta_edge.errors import ExportError
from dta_edge.models.tokenizer import LLAMA3_SPLIT_REGEX, QWEN2_SPLIT_REGEX

# llama.cpp identifies a BPE pre-tokenizer by name; we recognise it by its split regex.
PRE_TOKENIZERS = {QWEN2_SPLIT_REGEX: "qwen2", LLAMA3_SPLIT_REGEX: "llama-bpe"}

# gguf.TokenType values, repeated here so this module imports without gguf.
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5
_LOOKS_SPECIAL = ("<pad>", "<mask>", "<2mass>", "[@BOS@]")


@dataclass(frozen=True)
class GGUFVocab:
    """Everything llama.cpp needs to reproduce the HF tokenizer."""

    tokens: list[str]
    token_types: list[int]
    pre: str
    special: Any  # gguf.SpecialVocab: merges, special ids, add_bos/add_eos, chat template


def looks_special(token: str) -> bool:
    """llama.cpp's converter rule: added tokens shaped like control tokens are CONTROL."""
    return (
        token in _LOOKS_SPECIAL
        or (token.startswith("<|") and token.endswith("|>"))
        or (token.startswith("<\uff5c") and token.endswith("\uff5c>"))
        or (token.startswith("<unused") and token.endswith(">"))
    )


def _split_regex(pre_tokenizer: dict | None) -> str | None:
    if not pre_tokenizer:
        return None
    parts = pre_tokenizer.get("pretokenizers", [pre_tokenizer])
    for part in parts:
        if part.get("type") == "Split":
            return part.get("pattern", {}).get("Regex")
    return None


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
        token = added.get(content)
        if token is None:
            tokens[index], types[index] = content, NORMAL
        elif token.get("special") or looks_special(content):
            tokens[index], types[index] = content, CONTROL
        else:  # the converter pre-normalises SentencePiece spaces in user-defined tokens
            tokens[index], types[index] = content.replace("\u2581", " "), USER_DEFINED
    special = _special_vocab(model_dir, data, size)
    if not special.merges:
        raise ExportError(f"{path}: the BPE model has no merges")
    return GGUFVocab(tokens=tokens, token_types=types, pre=PRE_TOKENIZERS[regex], special=special)


def _special_vocab(model_dir: Path, tokenizer: dict, n_vocab: int):  # -> gguf.SpecialVocab
    """gguf-py's SpecialVocab, plus the rule llama.cpp's bundled gguf-py adds on top of PyPI's.

    The converter shipped with llama-cpp-python writes ``add_bos_token = add_eos_token = false``
    for a ByteLevel post-processor (Qwen) unless a template or tokenizer_config.json says
    otherwise; the gguf release on PyPI leaves them out. Setting the defaults after loading is
    the same as the bundled code setting them before the template and config override them.
    """
    import gguf

    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=n_vocab)
    processor = tokenizer.get("post_processor") or {}
    if any(p.get("type") == "ByteLevel" for p in processor.get("processors", [processor])):
        special.add_special_token.setdefault("bos", False)
        special.add_special_token.setdefault("eos", False)
    return special

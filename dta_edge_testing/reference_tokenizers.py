"""Real Qwen3 and Llama-3 tokenizers rebuilt offline from llama.cpp's vocab-only test files.

Nothing may download a tokenizer from a hub in tests, CI or the demo, yet a 1k-token toy
vocabulary hides every bug a 151k-token Qwen3 or 128k-token Llama-3 tokenizer shows. The
llama-cpp-python source distribution (the version installed here, from PyPI like any package)
ships `vendor/llama.cpp/models/ggml-vocab-{qwen2,llama-bpe}.gguf`: the real vocabularies and
merges, with test vectors (`.inp` texts, `.out` token ids) made by transformers itself. This
module unpacks those files once into the user cache and writes Hugging Face tokenizer folders
(tokenizer.json, tokenizer_config.json, chat template) shaped like the downloads, so checkpoints
built on them behave like the real thing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dta_edge.errors import ExportError
from dta_edge.models.gguf_header import read_gguf_header
from dta_edge.models.tokenizer import LLAMA3_SPLIT_REGEX, QWEN2_SPLIT_REGEX

TokenizerName = Literal["qwen3", "llama3"]
SDIST_ENV = "DTA_EDGE_LLAMA_CPP_SDIST"
TEST_SEPARATOR = "\n__ggml_vocab_test__\n"
# sdist members this module uses (the rest of the 75 MB archive is never unpacked).
_MEMBERS = ("vendor/llama.cpp/models/ggml-vocab-qwen2.gguf",
            "vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf",
            "vendor/llama.cpp/models/templates/Qwen-Qwen3-0.6B.jinja",
            "vendor/llama.cpp/convert_hf_to_gguf.py", "vendor/llama.cpp/conversion/",
            "vendor/llama.cpp/gguf-py/")  # fmt: skip

# Qwen3's added tokens after its 151,643 BPE tokens: (content, special) in id order, as in the
# released tokenizer_config.json. Several look like control tokens but are not marked special.
QWEN3_ADDED = (
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False),
)  # fmt: skip
# Meta-Llama-3-8B-Instruct's chat template.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


@dataclass(frozen=True)
class ReferenceTokenizer:
    """A rebuilt tokenizer folder and the llama.cpp test vectors it must reproduce."""

    name: TokenizerName
    path: Path
    vocab_gguf: Path
    vocab_size: int  # rows of the released models' embeddings
    bos_id: int | None
    eos_ids: tuple[int, ...]  # generation_config.json of the released instruct models
    pad_id: int | None

    def test_vectors(self) -> list[tuple[str, list[int]]]:
        """(text, token ids without special tokens) pairs that transformers produced upstream."""
        texts = self.vocab_gguf.with_name(self.vocab_gguf.name + ".inp").read_text("utf-8")
        lines = self.vocab_gguf.with_name(self.vocab_gguf.name + ".out").read_text("utf-8")
        inputs = texts.split(TEST_SEPARATOR)[:-1]
        outputs = [[int(t) for t in line.split()] for line in lines.split("\n")[: len(inputs)]]
        return list(zip(inputs, outputs, strict=True))


def llama_cpp_sources(cache: Path | None = None) -> Path:
    """The unpacked llama.cpp files of the installed llama-cpp-python's sdist (fetched once).

    The archive comes from ``$DTA_EDGE_LLAMA_CPP_SDIST`` when set (offline machines), else from
    the package index with ``pip download --no-binary :all:``.

    Raises:
        ExportError: the archive cannot be fetched or lacks the expected files.
    """
    from importlib.metadata import version

    release = version("llama_cpp_python")
    root = (cache or _cache_dir()) / f"llama-cpp-python-{release}"
    done = root / ".complete"
    if done.exists():
        return root / "vendor" / "llama.cpp"
    archive = _sdist_archive(release, root.parent)
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        prefix = tar.getmembers()[0].name.split("/")[0]
        wanted = [m for m in tar.getmembers()
                  if any(m.name.startswith(f"{prefix}/{p}") for p in _MEMBERS)]  # fmt: skip
        for member in wanted:
            member.name = member.name[len(prefix) + 1 :]
            tar.extract(member, root, filter="data")
    missing = [p for p in _MEMBERS if not (root / p).exists()]
    if missing:
        raise ExportError(f"{archive}: lacks {', '.join(missing)}")
    done.touch()
    return root / "vendor" / "llama.cpp"


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("dta-edge")) / "llama-cpp-sources"


def _sdist_archive(release: str, folder: Path) -> Path:
    given = os.environ.get(SDIST_ENV)
    if given:
        if not Path(given).is_file():
            raise ExportError(f"${SDIST_ENV}={given}: no such file")
        return Path(given)
    archive = folder / f"llama_cpp_python-{release}.tar.gz"
    if archive.exists():
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    package = f"llama-cpp-python=={release}"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", package, "-d", str(folder)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0 or not archive.exists():
        raise ExportError(
            f"could not fetch the llama-cpp-python {release} source distribution "
            f"({result.stderr.strip()[-300:] or 'no archive'}); download it where the package "
            f"index is reachable and set ${SDIST_ENV} to the .tar.gz"
        )
    return archive


def reference_tokenizer(name: TokenizerName, cache: Path | None = None) -> ReferenceTokenizer:
    """The rebuilt tokenizer folder ``name`` (built on first use, then read from the cache)."""
    sources = llama_cpp_sources(cache)
    vocab_gguf = sources / "models" / {"qwen3": "ggml-vocab-qwen2.gguf",
                                       "llama3": "ggml-vocab-llama-bpe.gguf"}[name]  # fmt: skip
    folder = sources.parent.parent / "tokenizers" / name
    info = (
        ReferenceTokenizer(name, folder, vocab_gguf, 151936, None, (151645, 151643), 151643)
        if name == "qwen3"
        else ReferenceTokenizer(name, folder, vocab_gguf, 128256, 128000, (128001, 128009), None)
    )
    if not (folder / "tokenizer.json").exists():
        staging = folder.with_name(f".{name}.partial")
        staging.mkdir(parents=True, exist_ok=True)
        if name == "qwen3":
            _write_qwen3(vocab_gguf, sources, staging)
        else:
            _write_llama3(vocab_gguf, staging)
        os.replace(staging, folder)
    return info


def _vocab_and_merges(vocab_gguf: Path, n_normal: int) -> tuple[dict[str, int], list[list[str]]]:
    keys = frozenset({"tokenizer.ggml.tokens", "tokenizer.ggml.merges"})
    metadata = read_gguf_header(vocab_gguf, keep=keys).metadata
    tokens: list[str] = metadata["tokenizer.ggml.tokens"]  # type: ignore[assignment]
    merges = [m.split(" ") for m in metadata["tokenizer.ggml.merges"]]  # type: ignore[union-attr]
    return {token: i for i, token in enumerate(tokens[:n_normal])}, merges


def _added(entries: list[tuple[int, str, bool]]) -> tuple[list[dict], dict[str, dict]]:
    """tokenizer.json's added_tokens and tokenizer_config.json's added_tokens_decoder."""
    flags = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False}
    listed = [{"id": i, "content": c, **flags, "special": s} for i, c, s in entries]
    decoder = {str(i): {"content": c, **flags, "special": s} for i, c, s in entries}
    return listed, decoder


def _byte_level(add_prefix_space: bool, trim_offsets: bool, use_regex: bool) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space,
            "trim_offsets": trim_offsets, "use_regex": use_regex}  # fmt: skip


def _bpe(vocab: dict[str, int], merges: list[list[str]], ignore_merges: bool) -> dict:
    return {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges}  # fmt: skip


def _split(regex: str) -> dict:
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _write_qwen3(vocab_gguf: Path, sources: Path, out: Path) -> None:
    """Qwen3's tokenizer: Qwen2's BPE, NFC, its split regex, and Qwen3's 26 added tokens."""
    first = 151643
    vocab, merges = _vocab_and_merges(vocab_gguf, first)
    added, decoder = _added([(first + i, c, s) for i, (c, s) in enumerate(QWEN3_ADDED)])
    _write_json(out / "tokenizer.json", {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            _split(QWEN2_SPLIT_REGEX), _byte_level(False, False, False)]},
        "post_processor": _byte_level(False, False, False),
        "decoder": _byte_level(False, False, False),
        "model": _bpe(vocab, merges, ignore_merges=False),
    })  # fmt: skip
    template = (sources / "models" / "templates" / "Qwen-Qwen3-0.6B.jinja").read_text("utf-8")
    _write_json(out / "tokenizer_config.json", {
        "add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": decoder,
        "additional_special_tokens": [c for c, s in QWEN3_ADDED[1:14] if s],
        "bos_token": None, "chat_template": template, "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 131072,
        "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    })  # fmt: skip


def _write_llama3(vocab_gguf: Path, out: Path) -> None:
    """Llama-3's tokenizer: BOS added by its post-processor, not by tokenizer_config.json."""
    first = 128000
    vocab, merges = _vocab_and_merges(vocab_gguf, first)
    names = ["<|begin_of_text|>", "<|end_of_text|>", *(f"<|reserved_special_token_{i}|>"
             for i in range(4)), "<|start_header_id|>", "<|end_header_id|>",
             "<|reserved_special_token_4|>", "<|eot_id|>",
             *(f"<|reserved_special_token_{i}|>" for i in range(5, 251))]  # fmt: skip
    added, decoder = _added([(first + i, c, True) for i, c in enumerate(names)])
    bos = {"id": "<|begin_of_text|>", "type_id": 0}
    _write_json(out / "tokenizer.json", {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            _split(LLAMA3_SPLIT_REGEX), _byte_level(False, True, False)]},
        "post_processor": {"type": "Sequence", "processors": [
            _byte_level(True, False, True),
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": bos}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": bos}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>",
                                                     "ids": [first],
                                                     "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": _byte_level(True, True, True),
        "model": _bpe(vocab, merges, ignore_merges=True),
    })  # fmt: skip
    _write_json(out / "tokenizer_config.json", {
        "added_tokens_decoder": decoder, "bos_token": "<|begin_of_text|>",
        "chat_template": LLAMA3_CHAT_TEMPLATE, "clean_up_tokenization_spaces": True,
        "eos_token": "<|eot_id|>", "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "PreTrainedTokenizerFast",
    })  # fmt: skip

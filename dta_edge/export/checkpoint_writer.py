"""Write weights as a transformers folder (safetensors shards + index), one tensor at a time.

``save_pretrained`` needs the whole model in memory; this writer needs one tensor. The tensor
table of every shard is known before any data is read (names, dtypes and shapes), so each
shard's header is written first and its tensors streamed after it. The folder is built under a
temporary name beside ``out_dir`` and renamed into place, so a crash never leaves a
half-written checkpoint under the final name.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from dta_edge.models.bf16 import float32_to_bf16
from dta_edge.models.safetensors_stream import TensorEntry
from dta_edge.models.weights import Weights

Dtype = Literal["bfloat16", "float16", "float32"]
SHARD_BYTES = 5 * 2**30  # transformers' default max_shard_size
_CODES = {"bfloat16": ("BF16", 2), "float16": ("F16", 2), "float32": ("F32", 4)}
_STORED = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}
FOLDER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
    "generation_config.json", "vocab.json", "merges.txt",
)  # fmt: skip


@dataclass(frozen=True)
class _Placed:
    entry: TensorEntry
    code: str  # safetensors dtype
    nbytes: int


def _tensor_bytes(weights: Weights, placed: _Placed) -> bytes:
    """One tensor in the output dtype; a tensor already stored in it is copied as it is."""
    name = placed.entry.name
    if placed.code == placed.entry.dtype:
        array = weights.raw(name)
    elif placed.code == "BF16":
        array = float32_to_bf16(weights.float32(name))
    elif placed.code == "F16":
        array = weights.float32(name).astype(np.float16)
    else:
        array = weights.float32(name)
    return np.ascontiguousarray(array).tobytes()


def _shards(placed: list[_Placed], shard_bytes: int) -> list[list[_Placed]]:
    groups: list[list[_Placed]] = [[]]
    size = 0
    for item in placed:
        if groups[-1] and size + item.nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += item.nbytes
    return groups


def _write_shard(path: Path, weights: Weights, items: list[_Placed], tick=None) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for item in items:
        header[item.entry.name] = {"dtype": item.code, "shape": list(item.entry.shape),
                                   "data_offsets": [offset, offset + item.nbytes]}  # fmt: skip
        offset += item.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned, as safetensors writes it
    with path.open("wb") as handle:
        handle.write(len(raw).to_bytes(8, "little") + raw)
        for item in items:
            data = _tensor_bytes(weights, item)
            if len(data) != item.nbytes:
                raise RuntimeError(f"{item.entry.name}: {len(data)} bytes, {item.nbytes} planned")
            handle.write(data)
            if tick is not None:
                tick()


def write_checkpoint(
    weights: Weights, out_dir: Path, dtype: Dtype | None = None, shard_bytes: int = SHARD_BYTES,
    on_tensor=None,
) -> Path:  # fmt: skip
    """Write ``weights`` as a transformers folder at ``out_dir`` (replaced whole if present).

    Args:
        weights: where the tensors come from (a checkpoint, or a base with an adapter merged).
        out_dir: the folder to create.
        dtype: the output dtype of every tensor; None keeps each tensor's stored dtype.
        shard_bytes: the most data one shard holds (an index is written when there are several).
        on_tensor: called as ``on_tensor(done, total)`` after each tensor is written.

    Returns:
        ``out_dir``.
    """
    placed = []
    for entry in weights.entries():
        kept = _STORED.get(entry.dtype, "float32")  # a float64 tensor is written as float32
        code, size = _CODES[dtype or kept]
        placed.append(_Placed(entry, code, math.prod(entry.shape) * size))
    groups = _shards(placed, shard_bytes)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        names = (["model.safetensors"] if len(groups) == 1 else
                 [f"model-{i:05d}-of-{len(groups):05d}.safetensors"
                  for i in range(1, len(groups) + 1)])  # fmt: skip
        done = [0]

        def tick() -> None:
            done[0] += 1
            if on_tensor is not None:
                on_tensor(done[0], len(placed))

        for name, items in zip(names, groups, strict=True):
            _write_shard(staging / name, weights, items, tick)
        if len(groups) > 1:
            index = {"metadata": {"total_size": sum(p.nbytes for p in placed)},
                     "weight_map": {item.entry.name: name for name, items in
                                    zip(names, groups, strict=True) for item in items}}  # fmt: skip
            (staging / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        config = weights.config()
        stored = {p.code for p in placed if len(p.entry.shape) == 2}
        written = dtype or (_STORED[stored.pop()] if len(stored) == 1 else "float32")
        config["dtype"] = config["torch_dtype"] = written  # transformers 5, and vLLM's older one
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        for name in FOLDER_FILES:
            if (weights.folder / name).is_file():
                shutil.copy2(weights.folder / name, staging / name)
        shutil.rmtree(out_dir, ignore_errors=True)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir

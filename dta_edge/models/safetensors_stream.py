"""Read safetensors one tensor at a time with plain file reads, without torch and without mmap.

safetensors' own loader maps the whole file; every page it touches counts as resident memory, so a
conversion that visits all tensors ends up holding the whole model. Reading each tensor into its own
buffer and dropping it keeps peak memory near one tensor.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dta_edge.errors import DtaError, ExportError
from dta_edge.models.bf16 import bf16_to_float32
from dta_edge.safe_paths import inside

_NUMPY = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16}


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives in a safetensors file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int  # absolute byte offset in the file
    nbytes: int


def read_index(path: Path) -> list[TensorEntry]:
    """The tensor table of a safetensors file, checked against the file size."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise ExportError(f"{path}: truncated safetensors file (no header)")
        header_len = int.from_bytes(raw, "little")
        if header_len > size - 8:
            raise ExportError(f"{path}: corrupt safetensors header length {header_len}")
        try:
            header = json.loads(handle.read(header_len))
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path}: corrupt safetensors header ({exc.msg})") from None
    base = 8 + header_len
    entries = []
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        if base + end > size:
            raise ExportError(
                f"{path}: truncated safetensors file (tensor '{name}' ends past the end)"
            )
        entries.append(
            TensorEntry(name, meta["dtype"], tuple(meta["shape"]), base + start, end - start)
        )
    return entries


def read_raw(path: Path, entry: TensorEntry) -> np.ndarray:
    """Load one tensor in its stored type (bf16 as uint16 words), shaped."""
    if entry.dtype not in _NUMPY:
        raise ExportError(f"{path}: tensor '{entry.name}' has unsupported dtype {entry.dtype}")
    dtype = np.dtype(_NUMPY[entry.dtype])
    with path.open("rb") as handle:
        handle.seek(entry.offset)
        array = np.fromfile(handle, dtype=dtype, count=entry.nbytes // dtype.itemsize)
    return array.reshape(entry.shape)


def prefetch(path: Path, entries: list[TensorEntry]) -> None:
    """Ask the kernel to start reading these tensors into the page cache, and return at once.

    A streamed pass computes on one layer while the next one's bytes come off the disk: an 8B
    checkpoint is 16 GB, more than the page cache keeps beside an export, and each layer read
    synchronously stalled the pass. A hint only: where posix_fadvise is missing it does nothing.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None or not entries:
        return

    def run() -> None:
        try:
            with path.open("rb") as handle:
                for entry in entries:
                    advise(handle.fileno(), entry.offset, entry.nbytes, os.POSIX_FADV_WILLNEED)
        except OSError:  # a hint: the read itself reports any real problem
            pass

    threading.Thread(target=run, name="prefetch", daemon=True).start()


def read_float32(path: Path, entry: TensorEntry) -> np.ndarray:
    """Load one tensor as float32 (bf16 is widened exactly by a 16-bit shift)."""
    array = read_raw(path, entry).reshape(-1)
    dtype = array.dtype
    if entry.dtype == "BF16":
        array = bf16_to_float32(array)
    elif dtype != np.float32:
        array = array.astype(np.float32)
    return array.reshape(entry.shape)


def iter_index(shards: list[Path]) -> Iterator[tuple[Path, TensorEntry]]:
    """Every tensor of every shard, in file order."""
    for shard in shards:
        for entry in read_index(shard):
            yield shard, entry


def weight_files(model_dir: Path) -> list[Path]:
    """The checkpoint's safetensors shards: those its index names, else every one in the folder.

    Downloads can hold more than one copy of the weights (Mistral's consolidated.safetensors
    beside the sharded files), so a folder with model.safetensors.index.json uses only the
    shards the index lists, and each must be present.
    """
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ExportError(f"{index}: not a safetensors index ({exc!r})") from None
        try:  # names read from a file: plain names inside the model folder, nothing else
            paths = [inside(model_dir, str(name), source=f"{index} weight_map") for name in names]
        except DtaError as exc:
            raise ExportError(str(exc)) from None
        missing = [path.name for path in paths if not path.is_file()]
        if missing:
            raise ExportError(f"{index}: lists shards that are missing: {', '.join(missing)}")
        return paths
    shards = sorted(model_dir.glob("*.safetensors"))
    if not shards:
        raise ExportError(f"{model_dir}: no .safetensors weights found")
    return shards

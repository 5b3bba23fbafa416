"""A model's weights as a table of named tensors, read one tensor at a time.

The GGUF writer, the merged-checkpoint writer and the streamed parity reference all read weights
through :class:`Weights`, never through a loaded model: a checkpoint folder
(:class:`CheckpointWeights`) and a base with a LoRA adapter merged in on the fly
(``dta_edge.export.lora_merge.MergedWeights``) look the same to them, and either keeps one tensor
in memory at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dta_edge.errors import ExportError
from dta_edge.models.safetensors_stream import (
    TensorEntry,
    iter_index,
    prefetch,
    read_float32,
    read_raw,
    weight_files,
)


class Weights(Protocol):
    """Named tensors of one model, and the folder its config and tokenizer come from."""

    folder: Path

    def config(self) -> dict[str, Any]:
        """config.json as these weights need it (a merge may untie the embeddings)."""
        ...

    def entries(self) -> list[TensorEntry]:
        """Every tensor: name, stored dtype and shape (offsets are the source's business)."""
        ...

    def raw(self, name: str) -> np.ndarray:
        """One tensor in its stored type (bf16 as uint16 words)."""
        ...

    def float32(self, name: str) -> np.ndarray:
        """One tensor widened to float32, in a new array the caller may change."""
        ...

    def prefetch(self, names: Sequence[str]) -> None:
        """A hint that these tensors are read next (their bytes may start loading now)."""
        ...


def read_config(folder: Path) -> dict[str, Any]:
    """A model folder's config.json as a dict.

    Raises:
        ExportError: missing, or not a JSON object.
    """
    return read_json_object(folder / "config.json", "a transformers model folder")


def read_json_object(path: Path, folder_kind: str) -> dict[str, Any]:
    """A JSON object file that makes its folder ``folder_kind`` (a model's or adapter's config).

    Raises:
        ExportError: missing, not JSON, or not an object; the message names the file.
    """
    if not path.exists():
        raise ExportError(f"{path}: missing; not {folder_kind}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: not a JSON object")
    return data


class CheckpointWeights:
    """The safetensors shards of a transformers folder, as they are on disk."""

    def __init__(self, folder: Path) -> None:
        """Index every shard's header (no tensor data is read).

        Raises:
            ExportError: no shards, a corrupt header, or a tensor name in two shards.
        """
        self.folder = folder
        self._where: dict[str, tuple[Path, TensorEntry]] = {}
        for shard, entry in iter_index(weight_files(folder)):
            if entry.name in self._where:
                raise ExportError(f"{shard}: tensor '{entry.name}' is also in another shard")
            self._where[entry.name] = (shard, entry)

    def config(self) -> dict[str, Any]:
        """The folder's config.json."""
        return read_config(self.folder)

    def entries(self) -> list[TensorEntry]:
        """Every tensor, in shard and file order."""
        return [entry for _, entry in self._where.values()]

    def entry(self, name: str) -> TensorEntry:
        """One tensor's entry.

        Raises:
            ExportError: no such tensor.
        """
        try:
            return self._where[name][1]
        except KeyError:
            raise ExportError(f"{self.folder}: no tensor '{name}' in the checkpoint") from None

    def raw(self, name: str) -> np.ndarray:
        """One tensor as stored."""
        self.entry(name)
        return read_raw(*self._where[name])

    def float32(self, name: str) -> np.ndarray:
        """One tensor in float32."""
        self.entry(name)
        return read_float32(*self._where[name])

    def prefetch(self, names: Sequence[str]) -> None:
        """Start reading these tensors' bytes into the page cache (names not stored are skipped)."""
        by_shard: dict[Path, list[TensorEntry]] = {}
        for name in names:
            if name in self._where:
                shard, entry = self._where[name]
                by_shard.setdefault(shard, []).append(entry)
        for shard, entries in by_shard.items():
            prefetch(shard, entries)


def as_weights(source: Path | Weights) -> Weights:
    """A folder's checkpoint as it is on disk, or weights given as such (a merge, say)."""
    return CheckpointWeights(source) if isinstance(source, Path) else source


def float32_bytes(weights: Weights) -> int:
    """Bytes the weights take once loaded in float32 (what a whole-model reference needs)."""
    return sum(int(np.prod(entry.shape)) * 4 for entry in weights.entries())

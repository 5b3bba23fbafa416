"""Read a GGUF file's metadata and tensor table with plain sequential reads.

gguf-py's GGUFReader maps every array element to its own numpy view: on a file with a real
151k-token vocabulary and 280k merges that takes 12 to 35 seconds, paid by every check before
llama.cpp opens the file. This reader walks the same layout (GGUF v2/v3) in one pass, keeps only
the values asked for and skips the rest, so checking a file costs well under a second.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dta_edge.errors import ExportError

# GGUF value types -> struct format (strings and arrays are handled apart).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
_DEFAULT_ALIGNMENT = 32


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file: its ggml type, shape (ggml order) and absolute data offset."""

    name: str
    ggml_type: int
    shape: tuple[int, ...]
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of its data, from the ggml type's block layout."""
        import gguf

        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(self.ggml_type)]
        elements = 1
        for dim in self.shape:
            elements *= dim
        return elements // block * size


@dataclass(frozen=True)
class GGUFHeader:
    """The metadata values that were kept and every tensor's place in the file."""

    version: int
    metadata: dict[str, object]
    tensors: tuple[TensorInfo, ...]


class _Reader:
    def __init__(self, handle: BinaryIO, path: Path):
        self.handle, self.path = handle, path

    def take(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise ExportError(f"{self.path}: truncated GGUF (metadata ends early)")
        return data

    def scalar(self, kind: int):
        fmt = _SCALARS.get(kind)
        if fmt is None:
            raise ExportError(f"{self.path}: corrupt GGUF (unknown value type {kind})")
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self, keep: bool = True) -> str | None:
        length = self.scalar(10)
        if length > 1 << 30:
            raise ExportError(f"{self.path}: corrupt GGUF (string of {length} bytes)")
        if not keep:
            self.handle.seek(length, 1)
            return None
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool):
        if kind == _STRING:
            return self.string(keep)
        if kind != _ARRAY:
            return self.scalar(kind)
        item_kind, count = self.scalar(4), self.scalar(10)
        if item_kind == _STRING:
            items = [self.string(keep) for _ in range(count)]
            return items if keep else None
        if item_kind == _ARRAY:
            items = [self.value(_ARRAY, keep) for _ in range(count)]
            return items if keep else None
        fmt = _SCALARS.get(item_kind)
        if fmt is None:
            raise ExportError(f"{self.path}: corrupt GGUF (unknown array type {item_kind})")
        size = struct.calcsize(fmt)
        if not keep:
            self.handle.seek(size * count, 1)
            return None
        return list(struct.unpack(f"<{count}{fmt[1]}", self.take(size * count)))


def read_gguf_header(
    path: Path, keep: frozenset[str] | Callable[[str], bool] | None = None
) -> GGUFHeader:
    """Parse header, metadata and tensor table; ``keep`` limits which values are decoded.

    ``keep=None`` decodes every value; names not in ``keep`` (a set of keys, or a test on a
    key) are skipped (arrays of strings are stepped over without decoding), which is what makes
    the common checks fast.

    Raises:
        ExportError: not a GGUF file, an unsupported version, or a truncated or corrupt header.
    """
    with path.open("rb") as handle:
        reader = _Reader(handle, path)
        magic = handle.read(4)
        if magic != b"GGUF":
            raise ExportError(f"{path}: not a GGUF file (magic {magic!r})")
        version = reader.scalar(4)
        if version not in (2, 3):
            raise ExportError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        n_tensors, n_kv = reader.scalar(10), reader.scalar(10)
        metadata: dict[str, object] = {}
        for _ in range(n_kv):
            key = reader.string() or ""
            kind = reader.scalar(4)
            wanted = (keep is None or (keep(key) if callable(keep) else key in keep)
                      or key == "general.alignment")  # fmt: skip
            value = reader.value(kind, wanted)
            if wanted:
                metadata[key] = value
        infos = []
        for _ in range(n_tensors):
            name = reader.string() or ""
            dims = reader.scalar(4)
            if dims > 8:
                raise ExportError(f"{path}: corrupt GGUF (tensor '{name}' has {dims} dimensions)")
            shape = tuple(reader.scalar(10) for _ in range(dims))
            infos.append((name, reader.scalar(4), shape, reader.scalar(10)))
        alignment = int(metadata.get("general.alignment", _DEFAULT_ALIGNMENT))  # type: ignore[arg-type]
        start = -(-handle.tell() // alignment) * alignment
    tensors = tuple(TensorInfo(name, kind, shape, start + offset)
                    for name, kind, shape, offset in infos)  # fmt: skip
    return GGUFHeader(version, metadata, tensors)

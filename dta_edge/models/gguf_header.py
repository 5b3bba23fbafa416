"""Read a GGUF file's metadata and tensor table with plain sequential reads.

gguf-py's GGUFReader maps every array element to its own numpy view: on a file with a real
151k-token vocabulary and 280k merges that takes 12 to 35 seconds, paid by every check before
llama.cpp opens the file. This reader walks the same layout (GGUF v2/v3) in one pass, keeps only
the values asked for and skips the rest, so checking a file costs well under a second.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dta_edge.errors import DtaError, ExportError

# GGUF value types -> struct format (strings and arrays are handled apart).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
_DEFAULT_ALIGNMENT = 32
_MAX_NESTING = 4  # arrays of arrays; llama.cpp writes none
_MAX_ALIGNMENT = 1 << 24


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file: its ggml type, shape (ggml order) and absolute data offset."""

    name: str
    ggml_type: int
    shape: tuple[int, ...]
    offset: int

    @property
    def type_name(self) -> str:
        """The ggml name of its type, lower case ("q8_0", "q4_k", "f16"); "type N" if unknown."""
        import gguf

        try:
            return gguf.GGMLQuantizationType(self.ggml_type).name.lower()
        except ValueError:
            return f"type {self.ggml_type}"

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
    """Sequential reads that never ask for more than the file still holds.

    A count or a length read from the file is checked against the bytes left before anything
    is allocated or skipped, so a 60-byte file claiming 2**63 strings fails at once.
    """

    def __init__(self, handle: BinaryIO, path: Path, size: int):
        self.handle, self.path, self.size = handle, path, size

    def corrupt(self, what: str) -> ExportError:
        return ExportError(f"{self.path}: corrupt GGUF ({what})")

    def left(self) -> int:
        return self.size - self.handle.tell()

    def take(self, size: int) -> bytes:
        if size > self.left():
            raise ExportError(f"{self.path}: truncated GGUF (metadata ends early)")
        return self.handle.read(size)

    def skip(self, size: int) -> None:
        if size > self.left():
            raise ExportError(f"{self.path}: truncated GGUF (metadata ends early)")
        self.handle.seek(size, 1)

    def scalar(self, kind: int):
        fmt = _SCALARS.get(kind)
        if fmt is None:
            raise self.corrupt(f"unknown value type {kind}")
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self, at_least: int, what: str) -> int:
        """A count read from the file, no larger than the items of ``at_least`` bytes left."""
        count = self.scalar(10)
        if count * at_least > self.left():
            raise self.corrupt(f"{count} {what} cannot fit in the {self.left()} bytes left")
        return count

    def string(self, keep: bool = True) -> str | None:
        length = self.count(1, "string bytes")
        if not keep:
            self.skip(length)
            return None
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool, depth: int = 0):
        if kind == _STRING:
            return self.string(keep)
        if kind != _ARRAY:
            return self.scalar(kind)
        if depth >= _MAX_NESTING:
            raise self.corrupt(f"arrays nested over {_MAX_NESTING} deep")
        item_kind = self.scalar(4)
        if item_kind in (_STRING, _ARRAY):
            count = self.count(8, "array items")  # each begins with an 8-byte length or type
            items = [self.value(item_kind, keep, depth + 1) for _ in range(count)]
            return items if keep else None
        fmt = _SCALARS.get(item_kind)
        if fmt is None:
            raise self.corrupt(f"unknown array type {item_kind}")
        size = struct.calcsize(fmt)
        count = self.count(size, "array items")
        if not keep:
            self.skip(size * count)
            return None
        return list(struct.unpack(f"<{count}{fmt[1]}", self.take(size * count)))


def _alignment(reader: _Reader, value: object) -> int:
    """``general.alignment``: a power of two (0, NaN, a string or a huge value is corrupt)."""
    if value is None:
        return _DEFAULT_ALIGNMENT
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise reader.corrupt(f"general.alignment is {value!r}, not a positive integer")
    if value & (value - 1) or value > _MAX_ALIGNMENT:
        raise reader.corrupt(f"general.alignment is {value}, not a power of two up to 2**24")
    return value


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
    from dta_edge.textfile import open_regular

    try:
        handle = open_regular(path)
    except DtaError as exc:
        raise ExportError(str(exc)) from None
    with handle:
        reader = _Reader(handle, path, os.fstat(handle.fileno()).st_size)
        magic = handle.read(4)
        if magic != b"GGUF":
            raise ExportError(f"{path}: not a GGUF file (magic {magic!r})")
        version = reader.scalar(4)
        if version not in (2, 3):
            raise ExportError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        n_tensors = reader.count(8 + 4 + 8 + 4 + 8, "tensors")  # name, dims, one dim, type, offset
        n_kv = reader.count(8 + 4, "metadata keys")
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
            if not 1 <= dims <= 8:
                raise reader.corrupt(f"tensor '{name}' has {dims} dimensions")
            shape = tuple(reader.scalar(10) for _ in range(dims))
            infos.append((name, reader.scalar(4), shape, reader.scalar(10)))
        alignment = _alignment(reader, metadata.get("general.alignment"))
        start = -(-handle.tell() // alignment) * alignment
        misaligned = next((name for name, _, _, offset in infos if offset % alignment), None)
        if misaligned is not None:
            raise reader.corrupt(f"tensor '{misaligned}' is not aligned to {alignment} bytes")
    tensors = tuple(TensorInfo(name, kind, shape, start + offset)
                    for name, kind, shape, offset in infos)  # fmt: skip
    return GGUFHeader(version, metadata, tensors)

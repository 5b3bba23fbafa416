"""Open a GGUF file safely: its header and tensor table are checked before llama.cpp sees it.

llama.cpp trusts the file it is given; a truncated or corrupt GGUF can crash the process. So every
file's header and tensor table are parsed first (models/gguf_header), and a problem becomes an
ExportError naming the file. Backends, the NLL scorer and the exporter's parity check all open
GGUF files through here.
"""

from __future__ import annotations

from pathlib import Path

from dta_edge.errors import ExportError


def check_gguf(path: Path) -> None:
    """Parse a GGUF file's header, metadata and tensor table; raise ExportError if it is broken."""
    from dta_edge.models.gguf_header import read_gguf_header

    if not path.is_file():
        raise ExportError(f"{path}: no such GGUF file")
    header = read_gguf_header(path, keep=frozenset())
    try:
        end = max((t.offset + t.nbytes for t in header.tensors), default=0)
    except (ValueError, KeyError) as exc:  # an unknown ggml type
        raise ExportError(f"{path}: corrupt GGUF ({exc})") from None
    size = path.stat().st_size
    if end > size:
        raise ExportError(
            f"{path}: truncated GGUF (tensor data ends at {end}, file has {size} bytes)"
        )


def load_gguf(path: Path, **kwargs):  # -> llama_cpp.Llama
    """Open a GGUF with llama.cpp on the CPU, quietly, after checking the file is sound."""
    import llama_cpp

    check_gguf(path)
    settings = {"n_ctx": 1024, "n_threads": 2, "verbose": False, **kwargs}
    return llama_cpp.Llama(model_path=str(path), **settings)

"""Open a GGUF file safely: its header and tensor table are checked before llama.cpp sees it.

llama.cpp trusts the file it is given; a truncated or corrupt GGUF can crash the process. So every
file's header and tensor table are parsed first (models/gguf_header), and a problem becomes an
ExportError naming the file. Backends, the NLL scorer and the exporter's parity check all open
GGUF files through here.
"""

from __future__ import annotations

from pathlib import Path

from dta_edge.errors import ExportError


def check_gguf(path: Path, *, tensors: bool = True) -> None:
    """Parse a GGUF file's header, metadata and tensor table; raise ExportError if it is broken.

    ``tensors`` off accepts a vocabulary-only file (no weights), as llama.cpp's vocab_only does.
    """
    from dta_edge.models.gguf_header import read_gguf_header

    if not path.is_file():
        raise ExportError(f"{path}: no such GGUF file")
    header = read_gguf_header(path, keep=frozenset())
    if tensors and not header.tensors:
        raise ExportError(f"{path}: a GGUF without tensors holds no model")
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
    """Open a GGUF with llama.cpp on the CPU, quietly, after checking the file is sound.

    It uses every core this process may run on unless ``n_threads`` says otherwise: parity of an
    8B export on a workstation should not run on two threads.

    Raises:
        ExportError: the header check failed, or llama.cpp refused the file (its own reason is
            in its log; the message names the file).
    """
    import llama_cpp

    from dta_edge.models.build_threads import allowed_cpus

    check_gguf(path, tensors=not kwargs.get("vocab_only", False))
    threads = len(allowed_cpus())  # every core this process may use, as llama-cli does
    settings = {"n_ctx": 1024, "n_threads": threads, "verbose": False, **kwargs}
    try:
        return llama_cpp.Llama(model_path=str(path), **settings)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ExportError(
            f"{path}: llama.cpp cannot load this GGUF ({exc}); check it with `dta config "
            "validate` or re-export it"
        ) from None

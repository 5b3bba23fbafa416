"""Quantize GGUF files with llama.cpp's own quantizer (the source is checked first)."""

from __future__ import annotations

import ctypes
import math
import os
from pathlib import Path

from dta_edge.errors import ExportError
from dta_edge.models.gguf_file import check_gguf

# Our names -> llama.cpp's LLAMA_FTYPE_* constants (read from llama_cpp at call time).
QUANT_TYPES: dict[str, str] = {
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
}


# bits per weight of each type (llama.cpp's figures), to tell a quantization's progress
BITS = {"q8_0": 8.5, "q6_k": 6.56, "q5_k_m": 5.69, "q4_k_m": 4.89}


def _watch(tmp: Path, expected: int, on_bytes, stop) -> None:
    """Report the growing output's size every second (llama.cpp's quantizer has no callback)."""
    while not stop.wait(1.0):
        size = tmp.stat().st_size if tmp.exists() else 0
        on_bytes(min(size, expected), expected)


def quantize_gguf(
    source: Path, out_path: Path, quant: str, threads: int | None = None, on_bytes=None
) -> Path:
    """Quantize ``source`` (F32/F16 GGUF) to ``quant`` with llama.cpp; atomic under ``out_path``.

    ``on_bytes(done, expected)`` is called about once a second with the output's size and the
    size the type's bits per weight predict.
    """
    if quant not in QUANT_TYPES:
        raise ExportError(f"unknown GGUF quantization '{quant}'; valid: {', '.join(QUANT_TYPES)}")
    check_gguf(source)
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.nthread = threads or 0
    tmp = out_path.with_name(f".{out_path.name}.partial")
    import threading

    from dta_edge.models.gguf_header import read_gguf_header

    stop = threading.Event()
    if on_bytes is not None:
        header = read_gguf_header(source, keep=frozenset())
        weights = sum(math.prod(t.shape) for t in header.tensors)
        expected = int(weights * BITS[quant] / 8)
        threading.Thread(target=_watch, args=(tmp, expected, on_bytes, stop), daemon=True).start()
    try:
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(tmp).encode(), ctypes.byref(params)
        )
    finally:
        stop.set()
    if status != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{source}: llama.cpp failed to quantize to {quant} (status {status})")
    os.replace(tmp, out_path)
    return out_path

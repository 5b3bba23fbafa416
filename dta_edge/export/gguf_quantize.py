"""Quantize GGUF files with llama.cpp's own quantizer (the source is checked first)."""

from __future__ import annotations

import ctypes
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


def quantize_gguf(source: Path, out_path: Path, quant: str, threads: int | None = None) -> Path:
    """Quantize ``source`` (F32/F16 GGUF) to ``quant`` with llama.cpp; atomic under ``out_path``."""
    if quant not in QUANT_TYPES:
        raise ExportError(f"unknown GGUF quantization '{quant}'; valid: {', '.join(QUANT_TYPES)}")
    check_gguf(source)
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.nthread = threads or 0
    tmp = out_path.with_name(f".{out_path.name}.partial")
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(tmp).encode(), ctypes.byref(params)
    )
    if status != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{source}: llama.cpp failed to quantize to {quant} (status {status})")
    os.replace(tmp, out_path)
    return out_path

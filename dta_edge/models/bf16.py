"""bfloat16 as numpy sees it: uint16 words holding the top half of a float32.

numpy has no bfloat16 type, and downloads store their weights in it. Widening is exact (a
16-bit shift); narrowing rounds to nearest even, as torch and llama.cpp do, so a tensor that
went float32 -> bf16 here has the same bits it would have after torch's `.to(torch.bfloat16)`.
"""

from __future__ import annotations

import numpy as np


def bf16_to_float32(words: np.ndarray) -> np.ndarray:
    """Widen bf16 words (uint16) to float32, exactly."""
    return (words.astype(np.uint32) << 16).view(np.float32)


def float32_to_bf16(values: np.ndarray) -> np.ndarray:
    """Round float32 values to bf16 words (uint16), to nearest even."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return ((bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) >> 16).astype(np.uint16)

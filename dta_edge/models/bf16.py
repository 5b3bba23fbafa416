"""bfloat16 as numpy sees it: uint16 words holding the top half of a float32.

numpy has no bfloat16 type, and downloads store their weights in it. Widening is exact (a
16-bit shift); narrowing rounds to nearest even, as torch and llama.cpp do, so a tensor that
went float32 -> bf16 here has the same bits it would have after torch's `.to(torch.bfloat16)`.

Both run in place on one working array: an 8B export widens and narrows about 16 GB of
weights several times, and each temporary array of a few hundred MB is fresh memory the kernel
has to fault in and zero (half the time of the naive expressions, measured on 50M weights).
"""

from __future__ import annotations

import numpy as np


def bf16_to_float32(words: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Widen bf16 words (uint16) to float32, exactly; into ``out`` (float32, same shape) if any."""
    if out is None:
        out = np.empty(words.shape, dtype=np.float32)
    np.left_shift(words, 16, out=out.view(np.uint32), dtype=np.uint32)
    return out


def float32_to_bf16(values: np.ndarray) -> np.ndarray:
    """Round float32 values to bf16 words (uint16), to nearest even."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = np.right_shift(bits, 16)
    np.bitwise_and(rounded, 1, out=rounded)
    rounded += np.uint32(0x7FFF)
    rounded += bits
    rounded >>= 16
    return rounded.astype(np.uint16)

"""bf16 words in numpy: the same bits torch gives, in place where a caller hands memory."""

import numpy as np


def _edge_values() -> np.ndarray:
    rng = np.random.default_rng(0)
    scaled = [rng.standard_normal(4096).astype(np.float32) * s for s in (1e-40, 1e-30, 1.0, 1e30)]
    ties = (np.arange(1, 257, dtype=np.uint32) << 16 | 0x8000).view(np.float32)  # exact halves
    special = np.array([np.inf, -np.inf, 0.0, -0.0, 3.3895e38, -3.3895e38, 1e-45], np.float32)
    return np.concatenate([*scaled, ties, -ties, special])


def test_narrowing_rounds_as_torch_does():
    import torch

    from dta_edge.models.bf16 import float32_to_bf16

    values = _edge_values()
    expected = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy()
    assert np.array_equal(float32_to_bf16(values), expected.view(np.uint16))
    assert np.array_equal(float32_to_bf16(values[::3]), expected.view(np.uint16)[::3])


def test_widening_is_exact_and_fills_the_given_array():
    import torch

    from dta_edge.models.bf16 import bf16_to_float32, float32_to_bf16

    words = float32_to_bf16(_edge_values()[:-1]).reshape(-1, 2)
    expected = torch.from_numpy(words.view(np.int16)).view(torch.bfloat16).float().numpy()
    assert np.array_equal(bf16_to_float32(words), expected)
    out = np.full(words.shape, np.nan, dtype=np.float32)
    assert bf16_to_float32(words, out=out) is out and np.array_equal(out, expected)
    column = words[:, 1]  # not contiguous
    assert np.array_equal(bf16_to_float32(column), expected[:, 1])

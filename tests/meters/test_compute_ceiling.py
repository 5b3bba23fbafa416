"""The compute ceiling: llama.cpp's own matrix-vector kernels, bound with ctypes and checked
against numpy before they are timed."""

from __future__ import annotations

import pytest

from dta_edge.errors import ModelError
from dta_edge.meters import compute_ceiling
from dta_edge.meters.compute_ceiling import measure_compute


def test_each_type_gets_a_positive_rate():
    result = measure_compute(types=("q8_0", "q4_k", "f16"), threads=2, sizes=(256,), chain=4,
                             repetitions=2)  # fmt: skip
    assert set(result.gflops) == {"q8_0", "q4_k", "f16"}
    assert all(rate > 0 for rate in result.gflops.values())
    assert result.threads == 2 and result.sizes == (256,)


def test_a_product_that_disagrees_with_numpy_is_refused_not_timed(monkeypatch):
    """Weights quantized as another type than the tensor says (a binding out of step with the
    library) are caught by the check against numpy."""
    original = compute_ceiling._Ggml.__init__
    q4_0 = compute_ceiling.ggml_type("q4_0")  # smaller blocks than q8_0: nothing overruns

    def quantize_as_q4_0(self):
        original(self)
        quantize = self.quantize_chunk
        self.quantize_chunk = lambda _type, *rest: quantize(q4_0, *rest)

    monkeypatch.setattr(compute_ceiling._Ggml, "__init__", quantize_as_q4_0)
    with pytest.raises(ModelError, match="off numpy's"):
        measure_compute(types=("q8_0",), threads=1, sizes=(256,), chain=2, repetitions=1)


def test_an_unknown_type_is_named_before_anything_runs():
    with pytest.raises(ModelError, match="unknown or untimeable ggml type 'q9_9'.*q8_0"):
        measure_compute(types=("q8_0", "q9_9"))
    # a real type that needs an importance matrix would abort inside ggml: refused first
    with pytest.raises(ModelError, match="untimeable ggml type 'iq2_xxs'"):
        measure_compute(types=("iq2_xxs",))

"""The compute ceiling decode can hit: llama.cpp's own matrix-vector kernels, timed in cache.

Decoding one token at batch 1 is a chain of matrix-vector products, one multiply-add per weight
(2 x parameters FLOPs). The memory ceiling (meters/bandwidth.py) says how fast the weights can
stream in; this says how fast the CPU can consume them once they are there, in the quantized
type the GGUF stores. Whichever ceiling is lower binds decode.

The kernels are ggml's, from the library llama-cpp-python ships (ctypes, no build step): a square
weight matrix small enough to stay in each core's L2 is quantized with ``ggml_quantize_chunk``,
then one graph chains products y <- W y and is computed with ``threads`` threads, so the thread
pool starts once per graph, as it does once per decoded token. The best of ``repetitions``
graphs, at the best of the matrix sizes tried, counts. Before timing, the product is checked
against numpy on the float weights: a wrong binding would otherwise time nonsense.
"""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ModelError

# The types our export targets write (and the K-quant mixes' Q5_K/Q6_K), float ones included.
DEFAULT_TYPES = ("f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k")


# What ggml_quantize_chunk makes without an importance matrix (others abort the process).
TIMEABLE_TYPES = ("f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k",
                  "q4_k", "q5_k", "q6_k")  # fmt: skip


def ggml_type(kind: str) -> int:
    """The ggml enum value of a type name ("q8_0"), from the gguf package llama.cpp publishes."""
    import gguf

    if kind not in TIMEABLE_TYPES:
        raise ModelError(f"unknown or untimeable ggml type '{kind}'; these can be timed: "
                         f"{', '.join(TIMEABLE_TYPES)}")  # fmt: skip
    return gguf.GGMLQuantizationType[kind.upper()].value


class _InitParams(ctypes.Structure):
    _fields_ = [
        ("mem_size", ctypes.c_size_t),
        ("mem_buffer", ctypes.c_void_p),
        ("no_alloc", ctypes.c_bool),
    ]


class ComputeResult(FrozenModel):
    """Matrix-vector GFLOP/s (1e9 multiply-adds x 2 per second) per ggml weight type."""

    gflops: dict[str, float]
    threads: int
    sizes: tuple[int, ...] = Field(description="The square weight matrix's sides tried.")
    chain: int = Field(description="Products per graph at side 1024 (one graph per timing).")
    repetitions: int


class _Ggml:
    """The few ggml functions the measurement needs, bound from llama-cpp-python's library."""

    def __init__(self) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise ModelError(
                f"the compute ceiling times llama.cpp's kernels: {exc}; install llama-cpp-python"
            ) from None
        folder = Path(llama_cpp.__file__).parent / "lib"
        mode = os.RTLD_GLOBAL if hasattr(os, "RTLD_GLOBAL") else 0
        base = ctypes.CDLL(str(folder / "libggml-base.so"), mode=mode)
        cpu = ctypes.CDLL(str(folder / "libggml-cpu.so"), mode=mode)
        pointer, int64 = ctypes.c_void_p, ctypes.c_int64
        self.init = _bound(base.ggml_init, pointer, [_InitParams])
        self.free = _bound(base.ggml_free, None, [pointer])
        self.new_tensor_2d = _bound(base.ggml_new_tensor_2d, pointer,
                                    [pointer, ctypes.c_int, int64, int64])  # fmt: skip
        self.get_data = _bound(base.ggml_get_data, pointer, [pointer])
        self.mul_mat = _bound(base.ggml_mul_mat, pointer, [pointer, pointer, pointer])
        self.new_graph = _bound(base.ggml_new_graph, pointer, [pointer])
        self.build_forward_expand = _bound(base.ggml_build_forward_expand, None,
                                           [pointer, pointer])  # fmt: skip
        self.quantize_chunk = _bound(base.ggml_quantize_chunk, ctypes.c_size_t,
                                     [ctypes.c_int, pointer, pointer, int64, int64, int64,
                                      pointer])  # fmt: skip
        self.compute = _bound(cpu.ggml_graph_compute_with_ctx, ctypes.c_int,
                              [pointer, pointer, ctypes.c_int])  # fmt: skip
        _bound(cpu.ggml_cpu_init, None, [])()


def _bound(function, restype, argtypes):
    function.restype = restype
    function.argtypes = argtypes
    return function


def _matvec_seconds(
    ggml: _Ggml, kind: str, size: int, chain: int, threads: int, repetitions: int
) -> float:
    """Best seconds for one graph of ``chain`` products with a ``kind`` weight matrix."""
    import numpy as np

    rng = np.random.default_rng(0)
    weights = (rng.standard_normal((size, size)) / size**0.5).astype(np.float32)
    vector = rng.standard_normal(size, dtype=np.float32)
    context = ggml.init(_InitParams(size * size * 4 + chain * size * 4 + 64 * 2**20, None, False))
    if not context:
        raise ModelError("ggml_init failed: no memory for the compute-ceiling matrices")
    try:
        matrix = ggml.new_tensor_2d(context, ggml_type(kind), size, size)
        if kind == "f32":
            ctypes.memmove(ggml.get_data(matrix), weights.ctypes.data, weights.nbytes)
        else:
            ggml.quantize_chunk(ggml_type(kind), weights.ctypes.data, ggml.get_data(matrix),
                                0, size, size, None)  # fmt: skip
        first = ggml.new_tensor_2d(context, ggml_type("f32"), size, 1)
        ctypes.memmove(ggml.get_data(first), vector.ctypes.data, vector.nbytes)
        check = ggml.mul_mat(context, matrix, first)
        last = check
        for _ in range(chain - 1):
            last = ggml.mul_mat(context, matrix, last)
        graph = ggml.new_graph(context)
        ggml.build_forward_expand(graph, last)
        if ggml.compute(context, graph, threads) != 0:
            raise ModelError(f"ggml could not compute the {kind} matrix-vector graph")
        _check_product(ggml, check, weights @ vector, kind)
        best = float("inf")
        for _ in range(repetitions):
            started = time.perf_counter()
            ggml.compute(context, graph, threads)
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        ggml.free(context)


def _check_product(ggml: _Ggml, tensor, expected, kind: str) -> None:
    """The first product against numpy's: quantization error only, never garbage."""
    import numpy as np

    got = np.ctypeslib.as_array(
        ctypes.cast(ggml.get_data(tensor), ctypes.POINTER(ctypes.c_float)), shape=expected.shape
    )
    error = float(np.linalg.norm(got - expected) / np.linalg.norm(expected))
    if not error < 0.5:  # q4_k sits near 0.05, q2_k near 0.3, garbage above 1; nan fails too
        raise ModelError(f"ggml's {kind} product is off numpy's by {error:.3g} (relative): the "
                         "llama.cpp library does not match these bindings")  # fmt: skip


def measure_compute(
    types: tuple[str, ...] = DEFAULT_TYPES,
    threads: int | None = None,
    sizes: tuple[int, ...] = (1024, 4096),
    chain: int = 64,
    repetitions: int = 10,
) -> ComputeResult:
    """Matrix-vector GFLOP/s of llama.cpp's CPU kernels for each weight type, in cache.

    Args:
        types: ggml weight types, lower case (``TIMEABLE_TYPES``).
        threads: as decode uses (default: every core).
        sizes: sides of the square matrix tried; the fastest counts (1024: 1 MiB in q8_0, in
            the threads' L2; 4096: 17 MiB, in a server's L3, where fewer, longer products keep
            the threads' start-up from dominating).
        chain: products per graph at side 1024 (scaled down for larger sides, same work).
        repetitions: graphs timed; the best counts.
    """
    for kind in types:
        ggml_type(kind)  # an unknown name fails before anything is timed
    threads = threads or os.cpu_count() or 1
    ggml = _Ggml()
    gflops = {}
    for kind in types:
        best = 0.0
        for size in sizes:
            products = max(1, chain * 1024**2 // size**2)
            seconds = _matvec_seconds(ggml, kind, size, products, threads, repetitions)
            best = max(best, 2 * size * size * products / seconds / 1e9)
        gflops[kind] = round(best, 2)
    return ComputeResult(
        gflops=gflops, threads=threads, sizes=sizes, chain=chain, repetitions=repetitions
    )

"""This machine's memory bandwidth, measured STREAM-style: the roofline's CPU ceiling.

A profile's ``memory_bandwidth_gbs`` is a datasheet figure; a VM slice or a laptop on battery
reaches a fraction of it. Here arrays far larger than any cache are copied (STREAM "copy":
read b, write a) and scaled-added (STREAM "triad": a = b + s x c, as two passes numpy can do
in place) by one thread per core, each on its own slice, with numpy releasing the GIL inside
each kernel. The best of several repetitions counts, as STREAM reports it; bytes are those the
kernels must move (copy 2 x 8 bytes per element, triad's two passes 5 x 8), not counting
write-allocate traffic, so the figures are a floor on what the memory system did.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from pydantic import Field

from dta_edge.config import FrozenModel


class BandwidthResult(FrozenModel):
    """Measured memory bandwidth (GB/s = 1e9 bytes per second)."""

    copy_gbs: float
    triad_gbs: float
    threads: int
    array_mib: float = Field(description="Size of each of the three arrays.")
    repetitions: int

    @property
    def best_gbs(self) -> float:
        """The higher of the two kernels: what the profile's ceiling should be."""
        return max(self.copy_gbs, self.triad_gbs)


def _parallel(threads: int, kernel: Callable[[int], None]) -> float:
    """Seconds for ``threads`` threads to each run ``kernel(index)`` once, started together."""
    barrier = threading.Barrier(threads + 1)
    workers = [threading.Thread(target=lambda i=i: (barrier.wait(), kernel(i)))
               for i in range(threads)]  # fmt: skip
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def measure_bandwidth(
    array_mib: float = 256, repetitions: int = 5, threads: int | None = None
) -> BandwidthResult:
    """Best copy and triad bandwidth over ``repetitions`` runs on ``threads`` threads."""
    import numpy as np

    threads = threads or os.cpu_count() or 1
    n = int(array_mib * 2**20 // 8)
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def copy(i: int) -> None:
        lo, hi = bounds[i]
        np.copyto(a[lo:hi], b[lo:hi])

    def triad(i: int) -> None:
        lo, hi = bounds[i]
        np.multiply(c[lo:hi], 3.0, out=a[lo:hi])
        np.add(a[lo:hi], b[lo:hi], out=a[lo:hi])

    _parallel(threads, copy)  # touch every page before timing
    best_copy = min(_parallel(threads, copy) for _ in range(repetitions))
    best_triad = min(_parallel(threads, triad) for _ in range(repetitions))
    return BandwidthResult(
        copy_gbs=2 * 8 * n / best_copy / 1e9,
        triad_gbs=5 * 8 * n / best_triad / 1e9,
        threads=threads,
        array_mib=array_mib,
        repetitions=repetitions,
    )

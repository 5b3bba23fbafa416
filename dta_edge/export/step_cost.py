"""Time and peak memory of each export step (write, quantize, parity), sampled while it runs.

The sampling is dta_edge.process_memory's: resident memory and its anonymous part, apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from dta_edge.config import FrozenModel
from dta_edge.process_memory import PeakSampler, memory_mib

__all__ = ["StepCost", "measured", "memory_mib"]


class StepCost(FrozenModel):
    """One step's wall time and peak memory (MiB; None where /proc is not available)."""

    seconds: float
    peak_rss_mib: float | None
    peak_anon_mib: float | None


@contextmanager
def measured(costs: dict[str, StepCost], step: str) -> Iterator[None]:
    """Time ``step`` and sample its peak memory into ``costs[step]`` (also when it fails)."""
    started = time.perf_counter()
    sampler = PeakSampler()
    try:
        with sampler:
            yield
    finally:
        costs[step] = StepCost(
            seconds=round(time.perf_counter() - started, 2),
            peak_rss_mib=round(sampler.rss, 1) if sampler.available else None,
            peak_anon_mib=round(sampler.anon, 1) if sampler.available else None,
        )

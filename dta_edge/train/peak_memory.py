"""The measured peak of a training run, to hold its memory plan against.

On a GPU it is torch's allocated peak (what the plan estimates, without the allocator's cache).
On the CPU it is the growth of resident memory from before the model was loaded to the run's
peak, sampled from /proc: imports and the tokenizer are there before, so they are not counted.
"""

from __future__ import annotations

from dta_edge.process_memory import PeakSampler, memory_mib


class PeakMemory:
    """Enter before the model is loaded, exit after training; then read ``mib`` and ``how``."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.mib: float | None = None
        self.how: str | None = None
        self._sampler: PeakSampler | None = None
        self._before = 0.0

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()
            return self
        reading = memory_mib()
        self._before = reading[0] if reading else 0.0
        self._sampler = PeakSampler().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.startswith("cuda"):
            import torch

            self.mib = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            self.how = "torch.cuda.max_memory_allocated"
            return
        if self._sampler is not None:
            self._sampler.__exit__(*exc)
            if self._sampler.available:
                self.mib = round(self._sampler.rss - self._before, 1)
                self.how = "peak resident memory growth from before the model was loaded"

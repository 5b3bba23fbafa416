"""The measured peak of a training run, to hold its memory plan against.

On a GPU it is torch's allocated peak (what the plan estimates, without the allocator's cache).
On the CPU it is the growth of resident memory from before the model was loaded to the run's
peak: the kernel's high-water mark (VmHWM), reset as the model starts loading, where Linux
allows it, since a step's activation peak is shorter than any sampling interval; otherwise
sampled from /proc. Imports and the tokenizer are there before, so they are not counted.
"""

from __future__ import annotations

from dta_edge.process_memory import PeakSampler, memory_mib, peak_rss_mib, reset_peak_rss


class PeakMemory:
    """Enter before the model is loaded, exit after training; then read ``mib`` and ``how``."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.mib: float | None = None
        self.how: str | None = None
        self._sampler: PeakSampler | None = None
        self._before = 0.0
        self._hwm_reset = False

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()
            return self
        self._hwm_reset = reset_peak_rss()
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
            hwm = peak_rss_mib() if self._hwm_reset else None
            if hwm is not None:
                self.mib = round(max(hwm, self._sampler.rss) - self._before, 1)
                self.how = "peak resident memory (VmHWM) growth from before the model was loaded"
            elif self._sampler.available:
                self.mib = round(self._sampler.rss - self._before, 1)
                self.how = "sampled peak resident memory growth from before the model was loaded"

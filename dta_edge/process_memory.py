"""A process's resident memory from /proc, and its peak sampled while a block runs.

ru_maxrss only ever grows, so it cannot say which step needed the memory. A background thread
reads /proc/self/status every 50 ms during a block instead, keeping resident memory (VmRSS) and
its anonymous part (RssAnon) apart: llama.cpp maps GGUF files, and those file-backed pages
count as resident but are dropped by the kernel under pressure, while anonymous memory is what
can exhaust a machine.

Sampling can miss a peak shorter than its interval (one training step of a small model is), so
where Linux lets a process reset its own high-water mark (writing 5 to /proc/self/clear_refs,
Linux 4.0 on), ``reset_peak_rss`` and ``peak_rss_mib`` give the exact peak instead.
"""

from __future__ import annotations

import threading
from pathlib import Path

_INTERVAL_S = 0.05


def memory_mib(pid: int | str = "self") -> tuple[float, float] | None:
    """(VmRSS, RssAnon) of a process in MiB from /proc, or None where there is no /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines())
    except (OSError, ValueError):
        return None
    rss = fields.get("VmRSS", "0 kB").split()[0]
    anon = fields.get("RssAnon", "0 kB").split()[0]
    return int(rss) / 1024, int(anon) / 1024


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its VmRSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float | None:
    """This process's VmHWM (peak resident memory since start or the last reset) in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class PeakSampler:
    """Peak VmRSS and RssAnon (MiB) of this process while the ``with`` block runs."""

    def __init__(self) -> None:
        self.rss = self.anon = 0.0
        self.available = memory_mib() is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        reading = memory_mib()
        if reading is not None:
            self.rss, self.anon = max(self.rss, reading[0]), max(self.anon, reading[1])

    def _run(self) -> None:
        while not self._stop.wait(_INTERVAL_S):
            self._sample()

    def __enter__(self) -> PeakSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

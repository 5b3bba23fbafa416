"""How many threads the embedded model builder trains with: the cores others leave free.

The embedded models' matrices are small. On a quiet 2-core machine two torch threads build them
1.6x faster than one; beside one busy core the same two threads run about 2x slower than one,
because each step waits for the thread whose core is taken (benchmarks/build_threads.py). The
builder's weights are bit-identical at 1 and 2 threads (torch splits these products by rows,
never along the sum: tests/models/test_build_threads.py checks it), so the count may follow the
load without moving a single weight.

``FreeCores`` reads the kernel's per-CPU counters (Linux ``/proc/stat``) for the CPUs this process
may run on, subtracts this process's own CPU time, and calls a core free when the others used
less than 30% of it since the previous reading. The builder asks again every few seconds, so a
job that starts beside a build costs it seconds, not the rest of the build. Where there is no
``/proc/stat``, every allowed core counts as free (torch's own default).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal (idle, iowait excluded)
FREE_BELOW = 0.3  # a core others use less than this share of is free
MIN_WINDOW_S = 0.25  # the shortest window a reading is taken over


def allowed_cpus() -> set[int]:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


class FreeCores:
    """Threads to use now: cores not taken by other processes, between 1 and ``limit``."""

    def __init__(
        self,
        limit: int | None = None,
        *,
        stat: Path = Path("/proc/stat"),
        own_cpu_s: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._cpus = allowed_cpus()
        self.limit = max(1, min(limit or len(self._cpus), len(self._cpus)))
        self._stat = stat
        self._own_cpu_s = own_cpu_s
        self._clock = clock
        self._sleep = sleep
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._reading()

    def _reading(self) -> tuple[float, float, float] | None:
        """(busy CPU-seconds of the allowed CPUs, this process's CPU-seconds, wall seconds)."""
        try:
            lines = self._stat.read_text().splitlines()
        except OSError:
            return None
        busy = 0
        for line in lines:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            if int(name[3:]) in self._cpus:
                busy += sum(int(fields[i]) for i in BUSY_FIELDS if i < len(fields))
        return busy / self._ticks, self._own_cpu_s(), self._clock()

    def threads(self) -> int:
        """Free cores since the last call (all ``limit`` when the counters cannot be read).

        Called right after the last reading, it first waits out a short window: the counters
        tick in hundredths of a second.
        """
        if self._last is not None and self._clock() - self._last[2] < MIN_WINDOW_S:
            self._sleep(MIN_WINDOW_S - (self._clock() - self._last[2]))
        now = self._reading()
        last, self._last = self._last, now
        if now is None or last is None or now[2] <= last[2]:
            return self.limit
        others = max(0.0, (now[0] - last[0]) - (now[1] - last[1])) / (now[2] - last[2])
        taken = math.floor(others + 1 - FREE_BELOW)  # 0.3 core-equivalents take one core
        return max(1, self.limit - taken)

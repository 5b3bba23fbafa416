"""NVIDIA Jetson power from `tegrastats`, for JetPack releases whose rails are not in hwmon.

tegrastats prints one line per interval with every INA3221 rail as ``NAME now/average``, in mW
(``VDD_IN 4717mW/4717mW`` on Orin; ``POM_5V_IN 2194/2194`` on Nano and TX2, unit implied). The
module's input is VDD_IN (Orin Nano, Xavier NX) or POM_5V_IN (Nano, TX2); boards that print no
input rail (AGX Orin: VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0; AGX Xavier: GPU, CPU, SOC, CV, VDDRQ,
SYS5V) report the sum of their rails as the total, and the reading's method says which. The
process is started once with the interval, read on a thread, and ended by its PID on close;
a window's energy is the trapezoid integral of the samples inside it. The program is the
`tegrastats` on PATH (or JetPack's install path), given only ``--interval``: a profile sets the
interval, never the program.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError
from dta_edge.meters.base import EnergyReading

INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
# Where JetPack installs it, after PATH. The program is never named by a profile: a YAML file
# that could name a program could run anything.
INSTALLED = ("/usr/bin/tegrastats", "/usr/sbin/tegrastats", "/usr/local/bin/tegrastats")
_RAIL = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")


def find_tegrastats() -> str:
    """The `tegrastats` program: on PATH, else where JetPack installs it.

    Raises:
        ConfigError: not found (this is not a Jetson, or JetPack's tools are missing).
    """
    found = shutil.which("tegrastats")
    if found:
        return found
    for path in INSTALLED:
        if os.access(path, os.X_OK):
            return path
    raise ConfigError(
        "meter tegrastats",
        [f"cannot start tegrastats: not on PATH nor in {', '.join(INSTALLED)} (is this a Jetson?)"],
    )


def parse_rails(line: str) -> dict[str, float]:
    """Rail -> instantaneous watts from one tegrastats line (RAM/SWAP/CPU fields never match)."""
    return {name: int(now) / 1000 for name, now, _average in _RAIL.findall(line)}


def total_watts(rails: dict[str, float]) -> tuple[float, str]:
    """The module's power and how it was found: its input rail, else the sum of the rails."""
    for name in INPUT_RAILS:
        if name in rails:
            return rails[name], name
    return sum(rails.values()), "sum of rails"


def integrate(samples: list[tuple[float, float]], start: float, stop: float) -> float:
    """Joules between ``start`` and ``stop`` from (time, watts) samples, trapezoid rule.

    The power at the window's edges is interpolated between the samples around them (held
    constant before the first and after the last).
    """
    if not samples:
        return 0.0

    def power_at(moment: float) -> float:
        if moment <= samples[0][0]:
            return samples[0][1]
        for (t0, w0), (t1, w1) in zip(samples, samples[1:], strict=False):
            if t0 <= moment <= t1:
                return w0 + (w1 - w0) * (moment - t0) / (t1 - t0) if t1 > t0 else w1
        return samples[-1][1]

    points = [(start, power_at(start))]
    points += [(t, w) for t, w in samples if start < t < stop]
    points.append((stop, power_at(stop)))
    pairs = zip(points, points[1:], strict=False)
    return sum((w0 + w1) / 2 * (t1 - t0) for (t0, w0), (t1, w1) in pairs)


class TegrastatsMeter:
    """Module power from a running `tegrastats --interval N`, integrated per window."""

    name = "tegrastats"
    estimated = False

    class Options(FrozenModel):
        """Meter options, as a profile's `meter_options:` gives them."""

        interval_ms: int = Field(default=100, ge=10, description="Its sampling interval.")
        startup_s: float = Field(default=5.0, gt=0, description="Wait this long for a line.")

    def __init__(self, options: Options) -> None:
        command = [find_tegrastats(), "--interval", str(options.interval_ms)]
        try:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        except OSError as exc:
            raise ConfigError("meter tegrastats", [f"cannot start {command[0]} ({exc})"]) from None
        self.samples: list[tuple[float, float]] = []
        self.rails: dict[str, float] = {}
        self.source = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,),
                                        daemon=True)  # fmt: skip
        self._reader.start()
        deadline = time.monotonic() + options.startup_s
        while not self.samples and time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.01)
        if not self.samples:
            self.close()
            raise ConfigError("meter tegrastats",
                              [f"{command[0]} printed no power rails within "
                               f"{options.startup_s:g} s (is this a Jetson?)"])  # fmt: skip
        self._started_at = 0.0

    def _read(self, lines: Iterable[str]) -> None:
        for line in lines:
            rails = parse_rails(line)
            if not rails:
                continue
            watts, source = total_watts(rails)
            with self._lock:
                self.samples.append((time.perf_counter(), watts))
                self.rails, self.source = rails, source

    def start(self) -> None:
        """Open a window (tegrastats keeps running between windows)."""
        self._started_at = time.perf_counter()

    def stop(self) -> EnergyReading:
        """The window's energy from the samples around it."""
        stopped = time.perf_counter()
        with self._lock:
            joules = integrate(list(self.samples), self._started_at, stopped)
            source = self.source
            self.samples = [s for s in self.samples if s[0] >= stopped - 10.0]  # bounded
        return EnergyReading(meter=self.name, joules=joules, seconds=stopped - self._started_at,
                             estimated=False,
                             method=f"tegrastats power ({source}), trapezoid")  # fmt: skip

    def close(self) -> None:
        """End the tegrastats process by its PID."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

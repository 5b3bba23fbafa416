"""The Meter protocol, the energy reading it returns, and the shared power-polling integrator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from pydantic import Field

from dta_edge.config import FrozenModel


class EnergyReading(FrozenModel):
    """Energy over one measurement window."""

    meter: str
    joules: float | None = Field(description="None when the meter measures nothing.")
    seconds: float
    estimated: bool = Field(description="True for modelled energy (codecarbon), never mixed.")
    per_device: dict[str, float] = Field(default_factory=dict, description="Joules per source.")
    method: str = Field(description="e.g. 'energy counter delta', 'power polling (trapezoid)'.")


class Meter(Protocol):
    """Measures energy between ``start`` and ``stop``; windows never overlap."""

    name: str
    estimated: bool

    def start(self) -> None:
        """Open a window."""
        ...

    def stop(self) -> EnergyReading:
        """Close the window and return its energy."""
        ...

    def close(self) -> None:
        """Release the device handles."""
        ...


class NoMeter:
    """Measures nothing: latency-only runs say so instead of printing zeros."""

    name = "none"
    estimated = False

    class Options(FrozenModel):
        """No options."""

    def __init__(self, options: Options | None = None) -> None:
        self._started = 0.0

    def start(self) -> None:
        """Note the time."""
        self._started = time.perf_counter()

    def stop(self) -> EnergyReading:
        """No energy, only the window length."""
        seconds = time.perf_counter() - self._started
        return EnergyReading(
            meter="none", joules=None, seconds=seconds, estimated=False, method="none"
        )

    def close(self) -> None:
        """Nothing to release."""


class PowerPoller:
    """Polls one or more power sources on a thread and integrates each with the trapezoid rule.

    ``read`` returns watts per source. The first and last samples are taken on the caller's
    thread at start and stop, so the window is covered end to end.
    """

    def __init__(self, read: Callable[[], dict[str, float]], interval_s: float) -> None:
        self._read = read
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[float, dict[str, float]] | None = None
        self._joules: dict[str, float] = {}
        self._lock = threading.Lock()
        self.samples = 0

    def _sample(self) -> None:
        now, watts = time.perf_counter(), self._read()
        with self._lock:
            if self._last is not None:
                then, before = self._last
                for source, power in watts.items():
                    area = (before.get(source, power) + power) / 2 * (now - then)
                    self._joules[source] = self._joules.get(source, 0.0) + area
            self._last = (now, watts)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> None:
        """Take the first sample and start the polling thread."""
        self._joules, self._last, self.samples = {}, None, 0
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="power-poller", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """Stop the thread, take the last sample, return joules per source."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        return dict(self._joules)

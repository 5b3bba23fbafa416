"""Estimated CPU energy from process CPU time and the profile's TDP, where no meter reads.

A VM exposes no RAPL zones, and recent kernels keep RAPL for root; without a meter every energy
column would be empty. This estimator states its power model instead of measuring:

    joules = cpu_seconds x (tdp_w / cores) + idle_share x tdp_w x wall_seconds

cpu_seconds is the user + system CPU time of this process and its children in the window (so a
llama.cpp server started by the bench counts); a core at full load draws tdp_w / cores; idle_share
is the part of the package's TDP drawn regardless of load while the window lasts. Every reading is
labelled estimated and names the model with its numbers, so it never enters a delta with a
measured figure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError
from dta_edge.meters.base import EnergyReading


def process_cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children, in seconds."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuTimeMeter:
    """The power model above, integrated over a window; always estimated."""

    name = "cpu-time"
    estimated = True

    class Options(FrozenModel):
        """Meter options; a profile's tdp_w and threads fill them when not given."""

        tdp_w: float | None = Field(default=None, gt=0, description="Package TDP in watts.")
        cores: int | None = Field(
            default=None,
            ge=1,
            description="Cores the TDP is spread over (default: this machine's).",
        )
        idle_share: float = Field(
            default=0.1, ge=0, le=1, description="Share of the TDP drawn at idle, per wall second."
        )

        @staticmethod
        def profile_defaults(profile) -> dict:
            """The profile's TDP, so `meter_fallback: cpu-time` needs no options of its own."""
            return {"tdp_w": profile.tdp_w}

    def __init__(
        self,
        options: Options,
        cpu_clock: Callable[[], float] = process_cpu_seconds,
        wall_clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if options.tdp_w is None:
            raise ConfigError("meter cpu-time", ["needs tdp_w (in the profile or meter_options)"])
        self.tdp_w = options.tdp_w
        self.cores = options.cores or os.cpu_count() or 1
        self.idle_share = options.idle_share
        self._cpu_clock, self._wall_clock = cpu_clock, wall_clock
        self._cpu0 = self._wall0 = 0.0

    @property
    def model(self) -> str:
        """The power model with its numbers, as results record it."""
        return (f"estimated: cpu_s x {self.tdp_w:g} W / {self.cores} cores + "
                f"{self.idle_share:g} x {self.tdp_w:g} W x wall_s")  # fmt: skip

    def start(self) -> None:
        """Note CPU time and wall time."""
        self._cpu0, self._wall0 = self._cpu_clock(), self._wall_clock()

    def stop(self) -> EnergyReading:
        """Energy of the window by the power model."""
        cpu = max(0.0, self._cpu_clock() - self._cpu0)
        wall = max(0.0, self._wall_clock() - self._wall0)
        busy = cpu * self.tdp_w / self.cores
        idle = self.idle_share * self.tdp_w * wall
        return EnergyReading(
            meter=self.name, joules=busy + idle, seconds=wall, estimated=True,
            per_device={"cpu busy": busy, "cpu idle share": idle}, method=self.model,
        )  # fmt: skip

    def close(self) -> None:
        """Nothing held open."""

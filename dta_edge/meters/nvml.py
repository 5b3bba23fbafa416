"""NVIDIA GPUs through NVML (the pynvml module of nvidia-ml-py).

Volta and newer keep a total-energy counter (nvmlDeviceGetTotalEnergyConsumption, millijoules):
a window is the counter's delta, exact and free of sampling. Older GPUs only report power
(nvmlDeviceGetPowerUsage, milliwatts), which is polled and integrated with the trapezoid rule.
"""

from __future__ import annotations

from importlib import import_module

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError
from dta_edge.meters.base import EnergyReading, PowerPoller


class NvmlMeter:
    """Energy of the chosen GPUs, per GPU and in total."""

    name = "nvml"
    estimated = False

    class Options(FrozenModel):
        """Meter options, as a profile's `meter_options:` gives them."""

        devices: tuple[int, ...] | None = Field(default=None, description="GPU indices; all.")
        poll_interval_s: float = Field(default=0.05, gt=0, description="Pre-Volta polling.")

    def __init__(self, options: Options) -> None:
        try:
            self.nvml = import_module("pynvml")
        except ImportError:
            raise ConfigError(
                "meter nvml", ["needs nvidia-ml-py: pip install 'dta-edge[energy]'"]
            ) from None
        try:
            self.nvml.nvmlInit()
        except self.nvml.NVMLError as exc:  # no driver here: a fallback meter may take over
            raise ConfigError("meter nvml", [f"NVML cannot start here ({exc}); is an NVIDIA "
                                             "driver installed?"]) from None  # fmt: skip
        indices = options.devices or tuple(range(self.nvml.nvmlDeviceGetCount()))
        self.handles = {f"gpu{i}": self.nvml.nvmlDeviceGetHandleByIndex(i) for i in indices}
        self.counters = {name: self._has_counter(h) for name, h in self.handles.items()}
        polled = [name for name, has in self.counters.items() if not has]
        self.poller = (
            PowerPoller(lambda: self._watts(polled), options.poll_interval_s) if polled else None
        )
        self._start: dict[str, int] = {}
        self._started_at = 0.0

    def _has_counter(self, handle) -> bool:
        try:
            self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            return True
        except self.nvml.NVMLError:
            return False

    def _watts(self, names: list[str]) -> dict[str, float]:
        return {n: self.nvml.nvmlDeviceGetPowerUsage(self.handles[n]) / 1000 for n in names}

    def _counters(self) -> dict[str, int]:
        return {
            name: self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            for name, handle in self.handles.items()
            if self.counters[name]
        }

    def start(self) -> None:
        """Read the counters; start polling the GPUs without one."""
        import time

        self._started_at = time.perf_counter()
        self._start = self._counters()
        if self.poller:
            self.poller.start()

    def stop(self) -> EnergyReading:
        """Counter deltas (mJ -> J) plus integrated power of polled GPUs."""
        import time

        end = self._counters()
        per_device = {name: (end[name] - self._start[name]) / 1000 for name in end}
        if self.poller:
            per_device.update(self.poller.stop())
        methods = {"energy counter delta" if c else "power polling (trapezoid)"
                   for c in self.counters.values()}  # fmt: skip
        return EnergyReading(
            meter=self.name,
            joules=sum(per_device.values()),
            seconds=time.perf_counter() - self._started_at,
            estimated=False,
            per_device=per_device,
            method=" + ".join(sorted(methods)),
        )

    def close(self) -> None:
        """Shut NVML down."""
        self.nvml.nvmlShutdown()

"""NVIDIA Jetson (Orin, Xavier): the on-board INA3221 power monitors through hwmon sysfs.

Each monitor channel has a label (VDD_IN, VDD_CPU_GPU_CV, VDD_SOC, ...), a bus voltage in mV
(in{N}_input) and a current in mA (curr{N}_input). VDD_IN is the whole module's input, the figure
to report; the other rails are kept per device. There is no energy counter, so power is polled and
integrated with the trapezoid rule. jtop (jetson-stats) reads these same files through its root
service; reading them directly needs no service and lets tests replay a recorded tree.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError
from dta_edge.meters.base import EnergyReading, PowerPoller

TOTAL_RAIL = "VDD_IN"


def find_rails(root: Path) -> dict[str, tuple[Path, Path]]:
    """Label -> (millivolt file, milliamp file) over every INA3221 hwmon device under root."""
    rails = {}
    for label_file in sorted(root.glob("*/hwmon/hwmon*/in*_label")):
        channel = label_file.name.removeprefix("in").removesuffix("_label")
        folder = label_file.parent
        volts, amps = folder / f"in{channel}_input", folder / f"curr{channel}_input"
        if volts.exists() and amps.exists():
            rails[label_file.read_text().strip()] = (volts, amps)
    return rails


class JetsonMeter:
    """VDD_IN energy (module input) plus each rail, polled."""

    name = "jetson"
    estimated = False

    class Options(FrozenModel):
        """Meter options, as a profile's `meter_options:` gives them."""

        root: str = "/sys/bus/i2c/drivers/ina3221"
        poll_interval_s: float = Field(default=0.05, gt=0)

    def __init__(self, options: Options) -> None:
        self.rails = find_rails(Path(options.root))
        if TOTAL_RAIL not in self.rails:
            raise ConfigError(
                "meter jetson",
                [f"{options.root}: no {TOTAL_RAIL} rail among INA3221 labels "
                 f"({', '.join(self.rails) or 'none found'})"],
            )  # fmt: skip
        self.poller = PowerPoller(self._watts, options.poll_interval_s)
        self._started_at = 0.0

    def _watts(self) -> dict[str, float]:
        return {
            label: int(volts.read_text()) * int(amps.read_text()) / 1e6
            for label, (volts, amps) in self.rails.items()
        }

    def start(self) -> None:
        """First sample; polling starts."""
        self._started_at = time.perf_counter()
        self.poller.start()

    def stop(self) -> EnergyReading:
        """VDD_IN joules as the total; every rail in per_device."""
        per_rail = self.poller.stop()
        return EnergyReading(
            meter=self.name,
            joules=per_rail[TOTAL_RAIL],
            seconds=time.perf_counter() - self._started_at,
            estimated=False,
            per_device=per_rail,
            method=f"INA3221 power polling (trapezoid, {self.poller.samples} samples)",
        )

    def close(self) -> None:
        """Nothing held open."""

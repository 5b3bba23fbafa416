"""Intel/AMD CPU energy from the Linux powercap tree (RAPL): package and DRAM zones.

Each zone keeps a microjoule counter (energy_uj) that wraps at max_energy_range_uj. The meter
reads the counters on a thread often enough that a window sees every wrap, and adds the range back
whenever a reading goes down. Reading energy_uj needs root on recent kernels.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError
from dta_edge.meters.base import EnergyReading


class _Zone:
    def __init__(self, folder: Path, label: str) -> None:
        self.label = label
        self.counter = folder / "energy_uj"
        self.range_uj = int((folder / "max_energy_range_uj").read_text())

    def read(self) -> int:
        try:
            return int(self.counter.read_text())
        except PermissionError:
            raise ConfigError(
                "meter rapl", [f"{self.counter}: not readable; run as root or chmod it"]
            ) from None


def find_zones(root: Path) -> list[_Zone]:
    """package-N zones and their dram sub-zones (the core/uncore ones are inside package)."""
    zones = []
    # /sys/class/powercap lists every zone at the top; the device tree nests sub-zones
    folders = {
        f.name: f for f in [*root.glob("intel-rapl:*/intel-rapl:*"), *root.glob("intel-rapl:*")]
    }
    for _, folder in sorted(folders.items()):
        name = (folder / "name").read_text().strip() if (folder / "name").exists() else ""
        parts = folder.name.split(":")
        if len(parts) == 2 and name.startswith("package"):
            zones.append(_Zone(folder, name))
        elif len(parts) == 3 and name == "dram":
            zones.append(_Zone(folder, f"dram-{parts[1]}"))
    return zones


class RaplMeter:
    """Sum of package and DRAM energy, wrap-around corrected."""

    name = "rapl"
    estimated = False

    class Options(FrozenModel):
        """Meter options, as a profile's `meter_options:` gives them."""

        root: str = "/sys/class/powercap"
        poll_interval_s: float = Field(
            default=1.0, gt=0, description="Counter reads; must be shorter than one wrap."
        )

    def __init__(self, options: Options) -> None:
        self.options = options
        self.zones = find_zones(Path(options.root))
        if not self.zones:
            raise ConfigError("meter rapl", [f"{options.root}: no intel-rapl package zones"])
        self._last: dict[str, int] = {}
        self._joules: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started_at = 0.0

    def _accumulate(self) -> None:
        with self._lock:
            for zone in self.zones:
                now = zone.read()
                before = self._last[zone.label]
                delta = now - before if now >= before else now + zone.range_uj - before
                self._joules[zone.label] += delta / 1e6
                self._last[zone.label] = now

    def _run(self) -> None:
        while not self._stop.wait(self.options.poll_interval_s):
            self._accumulate()

    def start(self) -> None:
        """Read every counter and start the wrap-watching thread."""
        self._started_at = time.perf_counter()
        self._last = {zone.label: zone.read() for zone in self.zones}
        self._joules = {zone.label: 0.0 for zone in self.zones}
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rapl-reader", daemon=True)
        self._thread.start()

    def stop(self) -> EnergyReading:
        """Last read; joules per zone and in total."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._accumulate()
        return EnergyReading(
            meter=self.name,
            joules=sum(self._joules.values()),
            seconds=time.perf_counter() - self._started_at,
            estimated=False,
            per_device=dict(self._joules),
            method="energy counter delta (wrap-corrected)",
        )

    def close(self) -> None:
        """Nothing held open."""

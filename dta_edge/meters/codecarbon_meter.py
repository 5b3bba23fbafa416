"""CodeCarbon: modelled energy (TDP tables, CPU load, RAPL or NVML when it finds them).

Always labelled estimated: CodeCarbon mixes measured and modelled sources and does not say which
it used per window, so its joules are never compared with a measured meter's.
"""

from __future__ import annotations

import time

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError
from dta_edge.meters.base import EnergyReading


class CodeCarbonMeter:
    """Energy from codecarbon's OfflineEmissionsTracker, kWh -> J."""

    name = "codecarbon"
    estimated = True

    class Options(FrozenModel):
        """Meter options, as a profile's `meter_options:` gives them."""

        measure_power_secs: float = Field(default=1.0, gt=0)
        country_iso_code: str = "USA"

    def __init__(self, options: Options) -> None:
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            raise ConfigError(
                "meter codecarbon", ["needs codecarbon: pip install 'dta-edge[energy]'"]
            ) from None
        self._factory = lambda: OfflineEmissionsTracker(
            measure_power_secs=options.measure_power_secs,
            country_iso_code=options.country_iso_code,
            save_to_file=False,
            log_level="error",
        )
        self._tracker = None
        self._started_at = 0.0

    def start(self) -> None:
        """A fresh tracker per window."""
        self._started_at = time.perf_counter()
        self._tracker = self._factory()
        self._tracker.start()

    def stop(self) -> EnergyReading:
        """The tracker's energy_consumed (kWh) in joules, labelled estimated."""
        self._tracker.stop()
        kwh = self._tracker.final_emissions_data.energy_consumed
        return EnergyReading(
            meter=self.name,
            joules=kwh * 3.6e6,
            seconds=time.perf_counter() - self._started_at,
            estimated=True,
            method="codecarbon model (estimated)",
        )

    def close(self) -> None:
        """Nothing held open."""

"""CodeCarbon: modelled energy (TDP tables, CPU load, RAPL or NVML when it finds them).

CodeCarbon samples power every ``measure_power_secs`` (1 s at least): a tracker per request window
of a few milliseconds never samples at all, so its figure means nothing. Here one tracker runs for
the meter's whole life (one bench run), and energy is apportioned to windows by time: a window
gets the tracker's average power so far (its energy at its latest sample over the time that
covers) times the window's length. Always labelled estimated: CodeCarbon mixes measured and
modelled sources, so its joules are never compared with a measured meter's.
"""

from __future__ import annotations

import time

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError
from dta_edge.meters.base import EnergyReading

RULE = "codecarbon (estimated): the run's average power so far x the window's seconds"


class CodeCarbonMeter:
    """One OfflineEmissionsTracker per run; windows get its average power x their duration."""

    name = "codecarbon"
    estimated = True

    class Options(FrozenModel):
        """Meter options, as a profile's `meter_options:` gives them."""

        measure_power_secs: float = Field(default=1.0, ge=1.0)
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
        self.tracker = None
        self._window_started = 0.0

    def start(self) -> None:
        """Start the run's tracker on the first window; note the window's start."""
        if self.tracker is None:
            self.tracker = self._factory()
            self.tracker.start()
        self._window_started = time.perf_counter()

    def average_watts(self) -> float:
        """The tracker's energy at its latest sample over the time that sample covers.

        A sample older than measure_power_secs is refreshed first, as CodeCarbon's flush does.
        """
        tracker = self.tracker
        tracker.flush()  # measures if the last sample is older than measure_power_secs
        covered = tracker._last_measured_time - tracker._start_time  # noqa: SLF001
        joules = tracker._total_energy.kWh * 3.6e6  # noqa: SLF001
        return joules / covered if covered > 0 else 0.0

    def stop(self) -> EnergyReading:
        """The window's share of the run's estimated energy, by its duration."""
        seconds = time.perf_counter() - self._window_started
        watts = self.average_watts()
        return EnergyReading(meter=self.name, joules=watts * seconds, seconds=seconds,
                             estimated=True, method=RULE)  # fmt: skip

    def close(self) -> None:
        """Stop the run's tracker."""
        if self.tracker is not None:
            self.tracker.stop()
            self.tracker = None

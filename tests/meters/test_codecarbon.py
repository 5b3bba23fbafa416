"""CodeCarbon used the way it works: one tracker per run, energy apportioned to windows by time."""

from __future__ import annotations

import pytest

from dta_edge.meters.registry import create_meter


@pytest.mark.slow
def test_codecarbon_runs_one_tracker_and_apportions_by_time():
    """For real on this CPU: one tracker across windows, energy by the run's average power."""
    import time

    meter = create_meter("codecarbon")
    readings = []
    try:
        for length in (0.02, 1.2, 0.3):
            meter.start()
            tracker = meter.tracker
            deadline = time.perf_counter() + length
            while time.perf_counter() < deadline:  # keep a core busy
                pass
            readings.append(meter.stop())
            assert meter.tracker is tracker  # never a fresh tracker per window
    finally:
        meter.close()
    assert meter.tracker is None
    assert all(r.estimated and r.meter == "codecarbon" and r.joules > 0 for r in readings)
    assert "average power so far" in readings[0].method
    watts = [r.joules / r.seconds for r in readings]
    assert max(watts) / min(watts) < 50  # one run's power, not a 16 ms tracker's noise

"""The CPU-time energy estimator on constructed CPU-time traces, and in a real bench chain."""

from __future__ import annotations

import pytest

from dta_edge.errors import ConfigError
from dta_edge.meters.cpu_time import CpuTimeMeter
from dta_edge.meters.registry import create_meter


class Trace:
    """A scripted clock: each call returns the next value."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


@pytest.mark.parametrize(
    ("cpu", "wall", "tdp", "cores", "idle", "joules"),
    [
        ((10.0, 12.0), (0.0, 1.0), 45.0, 2, 0.1, 2.0 * 22.5 + 0.1 * 45.0 * 1.0),  # both cores busy
        ((5.0, 5.5), (3.0, 4.0), 45.0, 2, 0.1, 0.5 * 22.5 + 4.5),  # one core at half load
        ((1.0, 1.0), (0.0, 2.0), 100.0, 8, 0.0, 0.0),  # idle, no idle share: nothing
        ((0.0, 16.0), (0.0, 2.0), 120.0, 8, 0.25, 16.0 * 15.0 + 0.25 * 120.0 * 2.0),
    ],
)
def test_power_model_on_constructed_traces(cpu, wall, tdp, cores, idle, joules):
    options = CpuTimeMeter.Options(tdp_w=tdp, cores=cores, idle_share=idle)
    meter = CpuTimeMeter(options, cpu_clock=Trace(*cpu), wall_clock=Trace(*wall))
    meter.start()
    reading = meter.stop()
    assert reading.joules == pytest.approx(joules)
    assert reading.seconds == pytest.approx(wall[1] - wall[0])
    assert reading.estimated and reading.meter == "cpu-time"
    assert f"{tdp:g} W / {cores} cores" in reading.method
    assert sum(reading.per_device.values()) == pytest.approx(joules)


def test_a_clock_going_backwards_never_gives_negative_energy():
    meter = CpuTimeMeter(CpuTimeMeter.Options(tdp_w=10, cores=1, idle_share=0),
                         cpu_clock=Trace(5.0, 4.0), wall_clock=Trace(0.0, 1.0))  # fmt: skip
    meter.start()
    assert meter.stop().joules == 0.0


def test_real_cpu_work_is_counted():
    meter = create_meter("cpu-time", {"tdp_w": 40, "cores": 2, "idle_share": 0})
    meter.start()
    total = 0
    for i in range(3_000_000):  # about 0.1-0.3 s of one core
        total += i
    reading = meter.stop()
    assert total > 0
    assert 0 < reading.joules <= 20.0 * (reading.seconds + 0.05)


def test_tdp_comes_from_the_profile_and_is_required():
    class Profile:
        tdp_w = 65.0

    meter = create_meter("cpu-time", profile=Profile())
    assert meter.tdp_w == 65.0
    with pytest.raises(ConfigError, match="needs tdp_w"):
        create_meter("cpu-time")


def test_the_profile_chain_falls_back_to_the_estimator_and_says_why():
    """profiles/cpu.yaml on a machine whose RAPL cannot be read: cpu-time, with the reason."""
    from dta_edge.bench.runner import open_meter
    from dta_edge.config import load_config
    from dta_edge.profiles import DeviceProfile

    from ..conftest import REPO

    profile = load_config(REPO / "profiles/cpu.yaml", DeviceProfile)
    rapl_free = profile.model_copy(update={"meter_options": {"root": "/nonexistent"}})
    notices: list[str] = []
    meter = open_meter(rapl_free, notices.append)
    assert meter.name == "cpu-time" and meter.tdp_w == profile.tdp_w
    assert (
        notices and "rapl unavailable" in notices[0] and "using the cpu-time estimate" in notices[0]
    )
    nothing = profile.model_copy(update={"meter_fallback": ("nvml",),
                                         "meter_options": {"root": "/nonexistent"}})  # fmt: skip
    with pytest.raises(ConfigError, match="no meter opens here"):
        open_meter(nothing)

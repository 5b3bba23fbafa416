"""Meters on recorded readings replayed at the lowest layer: a fake pynvml, fake sysfs trees."""

import sys
import types

import pytest

from dta_edge.errors import ConfigError
from dta_edge.meters.base import PowerPoller
from dta_edge.meters.registry import create_meter


class NVMLError(Exception):
    pass


def fake_pynvml(energy_mj: dict[int, list[int]], power_mw: dict[int, list[int]]):
    """A pynvml stand-in replaying recorded counter (mJ) and power (mW) readings per GPU.

    A GPU with no energy readings raises NVMLError on the counter, as pre-Volta GPUs do.
    """
    module = types.ModuleType("pynvml")
    module.NVMLError = NVMLError
    calls = {"init": 0, "shutdown": 0}
    energy = {i: iter(v) for i, v in energy_mj.items()}
    power = {i: iter(v) for i, v in power_mw.items()}

    def counter(handle):
        if handle not in energy:
            raise NVMLError("Not Supported")
        return next(energy[handle])

    module.nvmlInit = lambda: calls.__setitem__("init", calls["init"] + 1)
    module.nvmlShutdown = lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1)
    module.nvmlDeviceGetCount = lambda: len(set(energy_mj) | set(power_mw))
    module.nvmlDeviceGetHandleByIndex = lambda index: index
    module.nvmlDeviceGetTotalEnergyConsumption = counter
    module.nvmlDeviceGetPowerUsage = lambda handle: next(power[handle])
    module.calls = calls
    return module


def test_nvml_counter_deltas_per_gpu(monkeypatch):
    # recorded: probe read, start read, stop read (mJ) on two Volta+ GPUs
    nvml = fake_pynvml({0: [0, 1_000_000, 1_250_500], 1: [0, 5_000, 85_000]}, {})
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = create_meter("nvml")
    meter.start()
    reading = meter.stop()
    meter.close()
    assert reading.per_device == {"gpu0": 250.5, "gpu1": 80.0}
    assert reading.joules == pytest.approx(330.5)
    assert not reading.estimated and reading.method == "energy counter delta"
    assert nvml.calls == {"init": 1, "shutdown": 1}


def test_nvml_polls_power_where_no_counter(monkeypatch):
    steady = [150_000] * 10_000  # 150 W, as many polls as the window takes
    nvml = fake_pynvml({}, {0: steady})
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = create_meter("nvml", {"devices": [0], "poll_interval_s": 0.01})
    meter.start()
    import time

    time.sleep(0.1)
    reading = meter.stop()
    assert reading.method == "power polling (trapezoid)"
    assert reading.joules == pytest.approx(150 * reading.seconds, rel=0.02)


def test_nvml_missing_module_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(ConfigError, match=r"dta-edge\[energy\]"):
        create_meter("nvml")


def write_rapl(root, package_uj, dram_uj, max_uj=262_143_328_850):
    package = root / "intel-rapl:0"
    dram = package / "intel-rapl:0:0"
    core = package / "intel-rapl:0:1"
    for folder, name, value in ((package, "package-0", package_uj), (dram, "dram", dram_uj),
                                (core, "core", 1)):  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "name").write_text(name + "\n")
        (folder / "energy_uj").write_text(f"{value}\n")
        (folder / "max_energy_range_uj").write_text(f"{max_uj}\n")


def test_rapl_package_and_dram_with_wraparound(tmp_path):
    max_uj = 262_143_328_850
    write_rapl(tmp_path, package_uj=max_uj - 2_000_000, dram_uj=10_000_000)
    meter = create_meter("rapl", {"root": str(tmp_path), "poll_interval_s": 60})
    meter.start()
    # the package counter wraps: 2 J before the top, then 3 J past zero
    write_rapl(tmp_path, package_uj=3_000_000, dram_uj=10_500_000)
    reading = meter.stop()
    assert reading.per_device == {"package-0": pytest.approx(5.0), "dram-0": pytest.approx(0.5)}
    assert reading.joules == pytest.approx(5.5)
    assert "core" not in str(reading.per_device)  # core is inside package: not counted twice


def test_rapl_without_powercap_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no intel-rapl package zones"):
        create_meter("rapl", {"root": str(tmp_path)})


def write_ina3221(root, rails: dict[str, tuple[int, int]]):
    hwmon = root / "1-0040" / "hwmon" / "hwmon3"
    hwmon.mkdir(parents=True, exist_ok=True)
    for channel, (label, (millivolts, milliamps)) in enumerate(rails.items(), start=1):
        (hwmon / f"in{channel}_label").write_text(label + "\n")
        (hwmon / f"in{channel}_input").write_text(f"{millivolts}\n")
        (hwmon / f"curr{channel}_input").write_text(f"{milliamps}\n")


def test_jetson_integrates_vdd_in_and_keeps_rails(tmp_path):
    write_ina3221(tmp_path, {"VDD_IN": (5000, 2000), "VDD_CPU_GPU_CV": (5000, 1000),
                             "VDD_SOC": (5000, 400)})  # fmt: skip
    meter = create_meter("jetson", {"root": str(tmp_path), "poll_interval_s": 0.01})
    meter.start()
    import time

    time.sleep(0.1)
    reading = meter.stop()
    assert reading.joules == pytest.approx(10.0 * reading.seconds, rel=0.02)  # 5 V x 2 A
    assert reading.per_device["VDD_CPU_GPU_CV"] == pytest.approx(5.0 * reading.seconds, rel=0.02)
    assert set(reading.per_device) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}


def test_jetson_without_vdd_in_lists_what_it_found(tmp_path):
    write_ina3221(tmp_path, {"VDD_GPU": (5000, 1000)})
    with pytest.raises(ConfigError, match="no VDD_IN rail.*VDD_GPU"):
        create_meter("jetson", {"root": str(tmp_path)})


def test_power_poller_trapezoid_on_a_ramp(monkeypatch):
    """Readings 0, 10, 20 W at t = 0, 1, 2 s integrate to 20 J (trapezoid, not rectangles)."""
    import dta_edge.meters.base as base

    clock = iter([0.0, 1.0, 2.0])
    watts = iter([0.0, 10.0, 20.0])
    monkeypatch.setattr(base.time, "perf_counter", lambda: next(clock))
    poller = PowerPoller(lambda: {"board": next(watts)}, interval_s=3600)
    poller.start()
    poller._sample()  # one poll, as the thread would after an interval
    assert poller.stop() == {"board": pytest.approx(20.0)}


def test_unknown_meter_and_bad_options():
    with pytest.raises(ConfigError, match="unknown meter 'ina'.*jetson"):
        create_meter("ina")
    with pytest.raises(ConfigError, match="poll_interval"):
        create_meter("jetson", {"poll_interval": 1})


def test_none_meter_measures_no_energy():
    meter = create_meter("none")
    meter.start()
    reading = meter.stop()
    assert reading.joules is None and reading.meter == "none" and reading.seconds >= 0

"""tegrastats lines of each board family, and the meter on a stand-in tegrastats process."""

from __future__ import annotations

import sys
import time

import pytest

from dta_edge.errors import ConfigError
from dta_edge.meters.registry import create_meter
from dta_edge.meters.tegrastats import integrate, parse_rails, total_watts

from ..conftest import REPO

LINES = REPO / "tests" / "assets" / "tegrastats"
FAKE = REPO / "tests" / "meters" / "fake_tegrastats.py"


def lines(board: str) -> list[str]:
    return (LINES / f"{board}.txt").read_text().splitlines()


@pytest.mark.parametrize(
    ("board", "idle_w", "source", "rails"),
    [
        ("orin-nano", 4.717, "VDD_IN", {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}),
        ("agx-orin", 2.392 + 0.399 + 2.820 + 0.503, "sum of rails",
         {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "NC", "VDDQ_VDD2_1V8AO"}),
        ("agx-xavier", 0.311 + 0.933 + 0.155 + 1.473, "sum of rails",
         {"GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"}),
        ("nano", 2.194, "POM_5V_IN", {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"}),
    ],
)  # fmt: skip
def test_rails_and_total_per_board(board, idle_w, source, rails):
    parsed = parse_rails(lines(board)[0])
    assert set(parsed) == rails  # RAM, SWAP, CPU, frequencies and temperatures never match
    watts, found = total_watts(parsed)
    assert watts == pytest.approx(idle_w) and found == source


def test_load_line_reads_the_instant_value_not_the_average():
    rails = parse_rails(lines("orin-nano")[1])
    assert rails["VDD_IN"] == pytest.approx(9.864)


def test_integrate_interpolates_at_the_window_edges():
    samples = [(0.0, 10.0), (1.0, 20.0), (2.0, 20.0)]
    assert integrate(samples, 0.5, 1.5) == pytest.approx(0.5 * (15 + 20) / 2 + 0.5 * 20)
    assert integrate(samples, 3.0, 4.0) == pytest.approx(20.0)  # held after the last sample
    assert integrate([], 0.0, 1.0) == 0.0


def test_meter_on_a_running_stand_in(tmp_path):
    command = [sys.executable, str(FAKE), str(LINES / "orin-nano.txt")]
    meter = create_meter("tegrastats", {"command": command, "interval_ms": 20})
    try:
        pid = meter.process.pid
        meter.start()
        time.sleep(0.5)
        reading = meter.stop()
    finally:
        meter.close()
    assert meter.process.poll() is not None  # ended by its PID
    assert pid > 0
    assert not reading.estimated and "VDD_IN" in reading.method
    # the stand-in alternates 4.717 W and 9.864 W lines
    assert 4.717 * reading.seconds * 0.9 <= reading.joules <= 9.864 * reading.seconds * 1.1


def test_no_tegrastats_is_a_meter_that_cannot_open(tmp_path):
    with pytest.raises(ConfigError, match="cannot start"):
        create_meter("tegrastats", {"command": [str(tmp_path / "no-such-binary")]})
    silent = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(ConfigError, match="printed no power rails"):
        create_meter("tegrastats", {"command": silent, "startup_s": 0.3})

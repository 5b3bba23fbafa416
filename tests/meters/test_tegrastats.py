"""tegrastats lines of each board family, and the meter on a stand-in tegrastats process."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from dta_edge.errors import ConfigError
from dta_edge.meters.registry import create_meter
from dta_edge.meters.tegrastats import INSTALLED, integrate, parse_rails, total_watts

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


def stand_in(folder: Path, body: str) -> Path:
    """A `tegrastats` program in ``folder`` (put first on PATH by the test) running ``body``."""
    program = folder / "tegrastats"
    program.write_text(f'#!/bin/sh\nexec {body} "$@"\n')
    program.chmod(0o755)
    return folder


def test_meter_on_a_running_stand_in(tmp_path, monkeypatch):
    bin_dir = stand_in(tmp_path, f"{sys.executable} {FAKE} {LINES / 'orin-nano.txt'}")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    meter = create_meter("tegrastats", {"interval_ms": 20})
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


def test_no_tegrastats_is_a_meter_that_cannot_open(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    if not any(os.access(path, os.X_OK) for path in INSTALLED):
        with pytest.raises(ConfigError, match="cannot start"):
            create_meter("tegrastats", {})
    stand_in(tmp_path, "sleep 30")
    with pytest.raises(ConfigError, match="printed no power rails"):
        create_meter("tegrastats", {"startup_s": 0.3})


def test_a_profile_cannot_name_the_program(tmp_path):
    """`meter_options.command: [sh, -c, ...]` once ran anything; the option no longer exists."""
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match="command"):
        create_meter("tegrastats", {"command": ["sh", "-c", f"touch {marker}"]})
    assert not marker.exists()

"""Benchmark scripts run end to end on tiny settings (a crash in a timing script went unseen
until a user ran it: `curation_throughput.py`'s default path called a path as a function)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import REPO


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_curation_throughput_prints_a_ratio_per_concurrency(api):
    result = subprocess.run(
        [sys.executable, "benchmarks/curation_throughput.py", "--servers", "instant",
         "--requests", "24", "--concurrency", "2", "4", "--repeats", "2", "--samples", "2",
         "--api", api],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if " ratio " in line]
    assert len(lines) == 2
    for line in lines:
        assert f"api {api}" in line and "medians of 2" in line
        assert "A/A control: bare after / bare before" in line and "confidence)" in line
        assert float(re.search(r"ratio (\d+\.\d+)", line).group(1)) > 0


def test_the_median_interval_is_the_order_statistics_with_their_coverage():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from curation_throughput import median_interval
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    assert median_interval([9, 1, 8, 2, 7, 3, 6, 4, 5]) == (2, 8, 1 - 2 * 10 / 512)  # n=9: k=2
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0, 1 - 2 / 32)  # too few: range
    assert median_interval(list(range(15)))[:2] == (3, 11)  # k=4: 1 - 2*576/32768 = 96.5%

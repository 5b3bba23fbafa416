"""Outputs are safe to open: report.md escapes HTML, results.csv has no formulas, the terminal
gets no control sequences, whatever the system names and model answers hold.
"""

from __future__ import annotations

import csv
import io

import pytest

from dta_edge._console import printable
from dta_edge.report.escape import csv_cell, md

from ..backends.fault_server import FaultServer
from ..conftest import run_dta

SCRIPT = "<script>alert(1)</script>"
SVG = "<svg onload=alert(2)>"
FORMULA = '=HYPERLINK("http://evil.example","x")'
ESCAPE = "\x1b]0;pwned\x07\x1b[2J"
NAMES = [SCRIPT, FORMULA, f"plain{ESCAPE}", "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]


def test_markdown_text_is_inert():
    for text in (SCRIPT, SVG, "[click](javascript:alert(3))", "a | b", ESCAPE):
        out = md(text)
        assert "<" not in out and "\x1b" not in out and "\n" not in out
        assert "](" not in out or "\\]" in out
        assert "|" not in out.replace("\\|", "")


def test_csv_cells_never_start_a_formula():
    for text in ("=1+1", "+1", "-1+1", "@A1", "\t=1", "\r=1"):
        assert str(csv_cell(text)).startswith("'")
    assert csv_cell(-0.5) == -0.5 and csv_cell("plain") == "plain"


def test_the_terminal_gets_no_control_characters():
    assert printable(f"a{ESCAPE}b") == "a?]0;pwned??[2Jb"


@pytest.fixture
def hostile_bench(tmp_path):
    replies = [f"{SCRIPT} {SVG} {ESCAPE} \\boxed{{42}}"] * 100
    server = FaultServer([], replies=replies)
    systems = (
        "".join(
            f"  - {{name: {name!r}, backend: openai, model: m, options: "
            f"{{base_url: '{server.base_url}', retries: 0}}}}\n"
            for name in NAMES
        )
        .replace("\x1b", "\\e")
        .replace("\x07", "\\a")
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text("kind: bench-suite\nname: s\nproblems: {generate: {n: 3, seed: 1}}\n"
                     f"warmup: 0\nsystems:\n{systems}")  # fmt: skip
    bench = run_dta("bench", "--suite", str(suite), "--out", str(tmp_path / "bench"))
    server.close()
    assert bench.returncode == 0, bench.stderr
    assert "\x1b" not in bench.stdout + bench.stderr
    return tmp_path / "bench", bench


@pytest.mark.slow
def test_a_report_of_hostile_names_and_answers(tmp_path, hostile_bench):
    folder, _ = hostile_bench
    report = run_dta("report", str(folder), "--out", str(tmp_path / "report"),
                     "--baseline", SCRIPT)  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "\x1b" not in report.stdout + report.stderr
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "<script" not in markdown and "<svg" not in markdown and "\x1b" not in markdown
    assert "&lt;script&gt;" in markdown
    html = (tmp_path / "report" / "report.html").read_text()
    assert SCRIPT not in html and SVG not in html and "alert(1)</script>" not in html
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report" / "results.csv").read_text())))
    cells = [value for row in rows for value in row.values() if isinstance(value, str)]
    assert not [c for c in cells if c and c[0] in "=+@" and not c.startswith("'")]
    systems = {row["system"] for row in rows}
    assert "'" + FORMULA in systems and "'-2+3" in systems

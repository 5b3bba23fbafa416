"""One writer per run folder: a second process is refused at once, naming the first's PID;
SIGTERM leaves run.json "interrupted"; a crash releases the lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dta_edge.run_folder import exclusive

from ..backends.fault_server import FaultServer
from ..conftest import REPO, run_dta


def _suite(folder: Path, base_url: str, n: int = 4) -> Path:
    suite = folder / "suite.yaml"
    suite.write_text(
        f"kind: bench-suite\nname: s\nproblems: {{generate: {{n: {n}, seed: 3}}}}\nwarmup: 0\n"
        "systems:\n"
        f"  - {{name: served, backend: openai, model: m, options: {{base_url: '{base_url}', "
        "retries: 0}}\n"
    )
    return suite


def _start_bench(suite: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dta_edge", "bench", "--suite", str(suite), "--out", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )  # fmt: skip


def _wait_for(predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def slow_server():
    server = FaultServer(["slow"] * 100, slow_s=1.5)
    yield server
    server.close()


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.timeout(120)
def test_a_second_bench_on_one_folder_sends_nothing(tmp_path, slow_server):
    suite = _suite(tmp_path, slow_server.base_url)
    out = tmp_path / "out"
    first = _start_bench(suite, out)
    try:
        _wait_for(lambda: slow_server.requests >= 1)
        second = run_dta("bench", "--suite", str(suite), "--out", str(out), timeout=60)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"PID {first.pid}" in second.stderr
        first.wait(timeout=60)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, first.stderr
    assert slow_server.requests == 4  # each problem asked once: the second process sent none
    lines = (out / "results.jsonl").read_text().splitlines()
    keys = [(r["system"], r["problem_id"], r["sample_index"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == 4


@pytest.mark.parametrize("args", [["score", "run"], ["problems", "generate", "--n", "2"]])
def test_a_held_lock_refuses_at_once_naming_the_pid(tmp_path, args):
    out = tmp_path / "out"
    if args[0] == "score":
        from dta_edge.records import Completion, Problem
        from dta_edge.storage import write_jsonl

        write_jsonl(
            tmp_path / "p.jsonl",
            [Problem(id="a", source="t", category="c", question="q", answer=1.0, answer_text="1")],
        )
        write_jsonl(tmp_path / "c.jsonl", [Completion(request_id="a", text="1")])
        args = [*args, "--problems", str(tmp_path / "p.jsonl"),
                "--completions", str(tmp_path / "c.jsonl")]  # fmt: skip
    with exclusive(out):
        held = run_dta(*args, "--out", str(out), timeout=60)
    assert held.returncode == 2 and f"PID {os.getpid()}" in held.stderr
    assert not (out / "run.json").exists()  # refused before run.json was written
    assert run_dta(*args, "--out", str(out), timeout=60).returncode == 0  # released: runs


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_stopped_mid_run_the_record_says_so_and_the_lock_is_free(tmp_path, slow_server, how):
    suite = _suite(tmp_path, slow_server.base_url, n=20)
    out = tmp_path / "out"
    process = _start_bench(suite, out)
    _wait_for(lambda: slow_server.requests >= 2)
    process.send_signal(getattr(signal, how))
    process.wait(timeout=60)
    status = json.loads((out / "run.json").read_text())["status"]
    if how == "SIGTERM":
        assert process.returncode == 128 + signal.SIGTERM
        assert status == "interrupted"
        assert "Traceback" not in process.stderr.read()
    else:  # the kernel released the lock of a killed process; run.json still says running
        assert status == "running"
    slow_server.slow_s = 0.0
    rerun = run_dta("bench", "--suite", str(suite), "--out", str(out), timeout=120)
    assert rerun.returncode == 0, rerun.stderr  # resumes: nobody holds the folder
    assert json.loads((out / "run.json").read_text())["resumed"] is True

"""Every OS fault is one line, exit 2, and nothing torn under a final name; the rerun resumes.

A full disk (a small tmpfs), a read-only file system (tmpfs mounted ro) and a file-size limit
(ulimit -f) are made for real around bench, curate, score and report. Mounting needs root: the
tmpfs cases skip where it is refused.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from dta_edge.records import Completion, Problem
from dta_edge.storage import write_jsonl

from ..backends.fault_server import FaultServer
from ..conftest import REPO, run_dta


def dta(*args: str, file_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(
        [sys.executable, "-m", "dta_edge", *args], capture_output=True, text=True, cwd=REPO,
        timeout=300, preexec_fn=limit, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )  # fmt: skip


@contextmanager
def tmpfs(path: Path, size_kib: int):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                              str(path)], capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def assert_one_line(result) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr


def no_temp_left(folder: Path) -> None:
    assert not [p for p in folder.rglob("*.tmp")], "a half-written whole file is left"


# ---- the stages under test ------------------------------------------------------------------


def score_args(inputs: Path, out: Path) -> list[str]:
    ids = [f"p{i:04d}" for i in range(300)]
    write_jsonl(inputs / "problems.jsonl", [
        Problem(id=i, source="t", category="c", question="q" * 40, answer=1.0, answer_text="1")
        for i in ids
    ])  # fmt: skip
    write_jsonl(
        inputs / "completions.jsonl",
        [Completion(request_id=i, text=r"\boxed{1} " + "w" * 80) for i in ids],
    )
    return ["score", "run", "--problems", str(inputs / "problems.jsonl"),
            "--completions", str(inputs / "completions.jsonl"), "--out", str(out)]  # fmt: skip


def curate_args(inputs: Path, out: Path) -> list[str]:
    text = (REPO / "curation" / "demo.yaml").read_text().replace("n: 24,", "n: 40,")
    (inputs / "recipe.yaml").write_text(text)
    return ["curate", "phase1", "--recipe", str(inputs / "recipe.yaml"), "--out", str(out)]


def bench_args(inputs: Path, out: Path, base_url: str) -> list[str]:
    (inputs / "suite.yaml").write_text(
        "kind: bench-suite\nname: s\nproblems: {generate: {n: 60, seed: 3}}\nwarmup: 0\n"
        f"systems:\n  - {{name: served, backend: openai, model: m, options: "
        f"{{base_url: '{base_url}', retries: 0}}}}\n"
    )
    return ["bench", "--suite", str(inputs / "suite.yaml"), "--out", str(out)]


def report_args(inputs: Path, out: Path) -> list[str]:
    return ["report", str(REPO / "tests" / "assets" / "report"), "--out", str(out)]


@pytest.fixture
def server():
    served = FaultServer([])
    yield served
    served.close()


def _args(stage: str, inputs: Path, out: Path, server: FaultServer) -> list[str]:
    if stage == "bench":
        return bench_args(inputs, out, server.base_url)
    return {"score": score_args, "curate": curate_args, "report": report_args}[stage](inputs, out)


def _finished(stage: str, out: Path) -> None:
    """The resumed run holds every record once."""
    if stage in ("score", "bench", "curate"):
        name = {"score": "scores.jsonl", "bench": "results.jsonl",
                "curate": "candidates.jsonl"}[stage]  # fmt: skip
        lines = (out / name).read_text().splitlines()
        assert len(lines) == len(set(lines))
        assert json.loads((out / "run.json").read_text())["status"] == "finished"
    if stage == "report":
        assert (out / "report.html").read_text().rstrip().endswith("</html>")


STAGES = ["score", "curate", "bench", "report"]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("stage", STAGES)
def test_a_full_disk(tmp_path, server, stage):
    inputs = tmp_path / "in"
    inputs.mkdir()
    with tmpfs(tmp_path / "disk", 24) as disk:
        out = disk / "out"
        args = _args(stage, inputs, out, server)
        assert_one_line(full := dta(*args))
        assert "disk is full" in full.stderr
        no_temp_left(disk)
        remount(disk, "size=20m")
        resumed = dta(*args)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        _finished(stage, out)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("stage", STAGES)
def test_a_read_only_file_system(tmp_path, server, stage):
    inputs = tmp_path / "in"
    inputs.mkdir()
    with tmpfs(tmp_path / "disk", 20_000) as disk:
        remount(disk, "ro")
        result = dta(*_args(stage, inputs, disk / "out", server))
        assert_one_line(result)
        assert "read-only" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("stage", STAGES)
def test_a_file_size_limit(tmp_path, server, stage):
    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    args = _args(stage, inputs, out, server)
    limited = dta(*args, file_limit=8 * 1024)
    assert_one_line(limited)
    assert "size limit" in limited.stderr
    no_temp_left(out)
    resumed = dta(*args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _finished(stage, out)


@pytest.mark.timeout(120)
def test_a_damaged_summary_is_rebuilt_from_the_results(tmp_path, server):
    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    args = bench_args(inputs, out, server.base_url)
    assert run_dta(*args).returncode == 0
    good = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text('{"suite": "s", "systems": [{"sys')
    rerun = run_dta(*args)
    assert rerun.returncode == 0, rerun.stderr
    rebuilt = json.loads((out / "summary.json").read_text())
    assert [s["pass_at_1"] for s in rebuilt["systems"]] == [s["pass_at_1"] for s in good["systems"]]

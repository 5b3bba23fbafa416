"""Resumed analyses are guarded like stages, and `dta report` never compares across runs by
accident: a name two runs share becomes run:system, and an ambiguous baseline is exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dta_edge.records import LossPoint
from dta_edge.storage import write_jsonl

from ..backends.fault_server import FaultServer
from ..conftest import run_dta

VERDICT = '{"winner": "A", "reason": "A is right"}'


def _bench(folder: Path, server: FaultServer, name: str, n: int = 3) -> Path:
    suite = folder.with_suffix(".yaml")
    suite.write_text(
        f"kind: bench-suite\nname: s\nproblems: {{generate: {{n: {n}, seed: 1}}}}\nwarmup: 0\n"
        f"systems:\n  - {{name: {name}, backend: openai, model: m, options: "
        f"{{base_url: '{server.base_url}', retries: 0}}}}\n"
    )
    result = run_dta("bench", "--suite", str(suite), "--out", str(folder))
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def server():
    served = FaultServer([], replies=[VERDICT] * 200)
    yield served
    served.close()


def _pairwise(server: FaultServer, a: Path, b: Path, out: Path, judge_model: str, *extra: str):
    return run_dta("analyze", "pairwise", "--a", str(a), "--b", str(b), "--judge", "openai",
                   "--judge-model", judge_model, "--judge-option", f"base_url={server.base_url}",
                   "--judge-option", "retries=0", "--out", str(out), *extra)  # fmt: skip


@pytest.mark.slow
def test_pairwise_into_a_folder_of_another_judge_or_runs_is_refused(tmp_path, server):
    run_a = _bench(tmp_path / "a", server, "alpha")
    run_b = _bench(tmp_path / "b", server, "beta")
    run_c = _bench(tmp_path / "c", server, "gamma")
    out = tmp_path / "pairwise"
    first = _pairwise(server, run_a, run_b, out, "judge-1")
    assert first.returncode == 0, first.stderr
    verdicts = (out / "pairwise_verdicts.jsonl").read_text()
    for other in (
        _pairwise(server, run_a, run_b, out, "judge-2"),  # another judge
        _pairwise(server, run_a, run_c, out, "judge-1"),  # another run
    ):
        assert other.returncode == 2 and "Traceback" not in other.stderr
        assert "another config" in other.stderr and "--overwrite" in other.stderr
    assert (out / "pairwise_verdicts.jsonl").read_text() == verdicts  # nothing mixed in
    same = _pairwise(server, run_a, run_b, out, "judge-1")
    assert same.returncode == 0, same.stderr  # the same analysis resumes
    replaced = _pairwise(server, run_a, run_c, out, "judge-1", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert len(list(tmp_path.glob("pairwise.replaced-*"))) == 1
    result = json.loads((out / "pairwise.json").read_text())
    assert (result["a"], result["b"]) == ("alpha", "gamma")


@pytest.mark.slow
def test_loss_analysis_of_other_runs_is_refused_then_moved_aside(tmp_path):
    for name, loss in (("x", 1.0), ("y", 2.0), ("z", 3.0)):
        write_jsonl(tmp_path / name / "loss.jsonl",
                    [LossPoint(split="train", step=s, epoch=0.1 * s, loss=loss / s)
                     for s in range(1, 5)])  # fmt: skip
    out = tmp_path / "loss"
    runs = [f"x={tmp_path / 'x'}", f"y={tmp_path / 'y'}"]
    assert run_dta("analyze", "loss", *runs, "--out", str(out)).returncode == 0
    other = run_dta("analyze", "loss", runs[0], f"z={tmp_path / 'z'}", "--out", str(out))
    assert other.returncode == 2 and "another config" in other.stderr
    moved = run_dta("analyze", "loss", runs[0], f"z={tmp_path / 'z'}", "--out", str(out),
                    "--overwrite")  # fmt: skip
    assert moved.returncode == 0, moved.stderr


@pytest.mark.slow
def test_two_runs_sharing_a_system_name_are_kept_apart(tmp_path, server):
    """A system is (run, system): rows never merge, and a baseline is never picked silently."""
    import csv
    import io

    orin = _bench(tmp_path / "orin", server, "student")
    laptop = _bench(tmp_path / "laptop", server, "student")
    report = tmp_path / "report"
    ambiguous = run_dta("report", str(orin), str(laptop), "--out", str(report),
                        "--baseline", "student")  # fmt: skip
    assert ambiguous.returncode == 2 and "Traceback" not in ambiguous.stderr
    assert "orin:student" in ambiguous.stderr and "laptop:student" in ambiguous.stderr
    assert not (report / "report.html").exists()
    named = run_dta("report", str(orin), str(laptop), "--out", str(report),
                    "--baseline", "orin:student")  # fmt: skip
    assert named.returncode == 0, named.stderr
    markdown = (report / "report.md").read_text()
    assert "| orin:student | orin |" in markdown and "| laptop:student | laptop |" in markdown
    assert "**laptop:student**" in markdown and "vs orin:student" in markdown
    assert "## Same system across runs" in markdown
    rows = list(csv.DictReader(io.StringIO((report / "results.csv").read_text())))
    assert {(r["system"], r["run"]) for r in rows} == {("orin:student", "orin"),
                                                      ("laptop:student", "laptop")}  # fmt: skip
    # runs found under one folder are told apart the same way
    both = tmp_path / "both"
    both.mkdir()
    (tmp_path / "orin").rename(both / "orin")
    (tmp_path / "laptop").rename(both / "laptop")
    nested = run_dta("report", str(both), "--out", str(tmp_path / "nested"),
                     "--baseline", "student")  # fmt: skip
    assert nested.returncode == 2 and "orin:student" in nested.stderr

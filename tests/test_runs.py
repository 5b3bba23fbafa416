"""run.json: written at start, completed at the end, marked failed on error, resumes noted."""

import json
import os

import pytest

from dta_edge.runs import RunInfo, detect_hardware, git_revision, package_versions, run_record


def test_run_json_lifecycle(tmp_path):
    with run_record(tmp_path, "unit.test", {"n": 3}) as info:
        during = json.loads((tmp_path / "run.json").read_text())
        assert during["status"] == "running" and during["ended_at"] is None
        assert info.stage == "unit.test"
    done = RunInfo.model_validate_json((tmp_path / "run.json").read_text())
    assert (
        done.status == "finished" and done.ended_at is not None and done.started_at <= done.ended_at
    )
    assert done.config == {"n": 3}
    assert done.python and done.packages["pydantic"]
    assert done.hardware.cpu_count >= 1 and done.hardware.cpu_model
    assert done.command and not done.resumed


def test_run_json_records_failure_and_resume(tmp_path):
    with pytest.raises(RuntimeError), run_record(tmp_path, "unit.test", {}):
        raise RuntimeError("disk full")
    failed = RunInfo.model_validate_json((tmp_path / "run.json").read_text())
    assert failed.status == "failed" and "disk full" in failed.error
    with run_record(tmp_path, "unit.test", {}):
        pass
    assert RunInfo.model_validate_json((tmp_path / "run.json").read_text()).resumed


def test_environment_probes_do_not_import_torch():
    import sys

    had_torch = "torch" in sys.modules
    detect_hardware()
    package_versions()
    git_revision()
    assert ("torch" in sys.modules) == had_torch


def test_git_revision_of_a_non_repo_is_none(tmp_path):
    assert git_revision(tmp_path) is None


def test_a_jetson_records_its_power_mode(tmp_path, monkeypatch):
    """nvpmodel on PATH (a stand-in printing what JetPack's prints): run.json records the mode."""
    import stat

    from dta_edge.runs import detect_hardware

    fake = tmp_path / "nvpmodel"
    fake.write_text("#!/bin/sh\necho 'NV Power Mode: MAXN'\necho 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    jetson = detect_hardware().jetson
    assert jetson["power_mode"] == "MAXN" and jetson["power_mode_id"] == "0"
    monkeypatch.setenv("PATH", "/nonexistent")
    assert detect_hardware().jetson == {}

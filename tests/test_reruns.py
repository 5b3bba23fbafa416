"""A rerun never mixes two runs: another config is refused, --overwrite moves the old run aside."""

from __future__ import annotations

import json

import pytest

from dta_edge.errors import DataError
from dta_edge.records import Completion, Problem, ScoredCompletion
from dta_edge.runs import prepare_run_folder, run_record
from dta_edge.storage import read_jsonl, write_jsonl

from .conftest import run_dta


def score_args(tmp_path, completions_name="completions.jsonl", out="out"):
    return ["score", "run", "--problems", str(tmp_path / "problems.jsonl"), "--completions",
            str(tmp_path / completions_name), "--out", str(tmp_path / out)]  # fmt: skip


@pytest.fixture
def scored_inputs(tmp_path):
    write_jsonl(tmp_path / "problems.jsonl", [
        Problem(id=i, source="t", category="c", question="q", answer=1.0, answer_text="1")
        for i in ("a", "b")
    ])  # fmt: skip
    write_jsonl(tmp_path / "completions.jsonl",
                [Completion(request_id=i, text=r"\boxed{1}") for i in ("a", "b")])  # fmt: skip
    write_jsonl(tmp_path / "other.jsonl",
                [Completion(request_id=i, text=r"\boxed{2}") for i in ("a", "b")])  # fmt: skip
    return tmp_path


def test_same_config_resumes(scored_inputs):
    assert run_dta(*score_args(scored_inputs)).returncode == 0
    again = run_dta(*score_args(scored_inputs))
    assert again.returncode == 0, again.stderr
    assert json.loads((scored_inputs / "out" / "run.json").read_text())["resumed"] is True


def test_other_config_is_refused_naming_the_difference(scored_inputs):
    assert run_dta(*score_args(scored_inputs)).returncode == 0
    before = (scored_inputs / "out" / "scores.jsonl").read_text()
    other = run_dta(*score_args(scored_inputs, "other.jsonl"))
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "completions" in other.stderr and "other.jsonl" in other.stderr
    assert "--overwrite" in other.stderr
    assert (scored_inputs / "out" / "scores.jsonl").read_text() == before  # nothing touched


def test_overwrite_moves_the_old_run_aside_whole(scored_inputs):
    assert run_dta(*score_args(scored_inputs)).returncode == 0
    replaced = run_dta(*score_args(scored_inputs, "other.jsonl"), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    scores = read_jsonl(scored_inputs / "out" / "scores.jsonl", ScoredCompletion)
    assert [s.correct for s in scores] == [False, False]  # only the new run's records
    aside = list(scored_inputs.glob("out.replaced-*"))
    assert len(aside) == 1
    old = read_jsonl(aside[0] / "scores.jsonl", ScoredCompletion)
    assert [s.correct for s in old] == [True, True]


def test_another_stage_in_the_folder_is_refused(tmp_path):
    with run_record(tmp_path / "run", "train", {"recipe": "a"}):
        (tmp_path / "run" / "loss.jsonl").write_text("")
    with pytest.raises(DataError, match="stage: train before, bench now"):
        prepare_run_folder(tmp_path / "run", "bench", {"recipe": "a"})
    # steps of one stage family share a folder
    with run_record(tmp_path / "cur", "curate.phase1", {"n": 1}):
        pass
    assert prepare_run_folder(tmp_path / "cur", "curate.rewrite+judge", {"n": 1}) == (True, None)


def test_corrupt_run_json_is_named(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text('{"stage": "tr')
    with pytest.raises(DataError, match="run.json.*--overwrite"):
        prepare_run_folder(folder, "train", {})


def test_problems_generate_into_a_folder_of_another_config(tmp_path):
    out = tmp_path / "problems"
    assert run_dta("problems", "generate", "--n", "4", "--out", str(out)).returncode == 0
    other = run_dta("problems", "generate", "--n", "5", "--out", str(out))
    assert other.returncode == 2 and "n: 4 before, 5 now" in other.stderr
    assert run_dta("problems", "generate", "--n", "5", "--out", str(out),
                   "--overwrite").returncode == 0  # fmt: skip
    assert (out / "problems.jsonl").read_text().count("\n") == 5

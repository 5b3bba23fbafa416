"""The `dta` command as a user runs it: help, version, scoring files end to end."""

import json

import pytest

from dta_edge.records import Completion, Problem, ScoredCompletion
from dta_edge.storage import read_jsonl, write_jsonl

from .conftest import run_dta


def test_help_lists_stage_groups():
    result = run_dta("--help")
    assert result.returncode == 0
    for group in ("problems", "model", "score", "config", "version"):
        assert group in result.stdout


def test_every_group_has_help():
    for group in ("problems", "model", "score", "config"):
        result = run_dta(group, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, group


def test_version():
    result = run_dta("version")
    assert result.returncode == 0 and result.stdout.startswith("dta-edge ")


def test_score_run_end_to_end_and_resume(tmp_path):
    problems = [
        Problem(
            id="a", source="t", category="c", question="q", answer=10.0, answer_text="10", unit="dB"
        ),
        Problem(id="b", source="t", category="c", question="q", answer=0.5, answer_text="0.5"),
    ]
    completions = [
        Completion(request_id="a", sample_index=0, text=r"\boxed{10.05} dB"),
        Completion(request_id="a", sample_index=1, text="Answer: 12"),
        Completion(request_id="b", sample_index=0, text=r"\boxed{\frac{1}{2}}"),
        Completion(request_id="b", sample_index=1, text="no idea"),
    ]
    write_jsonl(tmp_path / "problems.jsonl", problems)
    write_jsonl(tmp_path / "completions.jsonl", completions)
    args = [
        "score",
        "run",
        "--problems",
        str(tmp_path / "problems.jsonl"),
        "--completions",
        str(tmp_path / "completions.jsonl"),
        "--out",
        str(tmp_path / "out"),
    ]
    result = run_dta(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["pass_at_1"] == 0.5 and summary["samples_per_problem"] == 2
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "finished"
    scores = read_jsonl(tmp_path / "out" / "scores.jsonl", ScoredCompletion)
    assert [s.correct for s in scores] == [True, False, True, False]
    again = run_dta(*args)  # resume: nothing is scored twice
    assert again.returncode == 0
    assert len(read_jsonl(tmp_path / "out" / "scores.jsonl", ScoredCompletion)) == 4


def score_with_one_problem(tmp_path, completions_text: str):
    """Run `dta score run` on a one-problem file and the given completions file content."""
    one = Problem(id="a", source="t", category="c", question="q", answer=1.0, answer_text="1")
    write_jsonl(tmp_path / "problems.jsonl", [one])
    (tmp_path / "completions.jsonl").write_text(completions_text)
    return run_dta(
        "score", "run",
        "--problems", str(tmp_path / "problems.jsonl"),
        "--completions", str(tmp_path / "completions.jsonl"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip


def test_score_run_unknown_problem_exits_2(tmp_path):
    result = score_with_one_problem(
        tmp_path, Completion(request_id="zzz", text="1").model_dump_json() + "\n"
    )
    assert result.returncode == 2, result.stderr
    assert "names problem 'zzz'" in result.stderr and "Traceback" not in result.stderr


def test_malformed_completions_file_exits_2_with_line(tmp_path):
    result = score_with_one_problem(
        tmp_path, '{"request_id": "a", "text": "1"}\n{"request_id": 5}\n'
    )
    assert result.returncode == 2 and "completions.jsonl:2" in result.stderr


def test_score_extract():
    result = run_dta(
        "score", "extract", r"so \boxed{2.5 ms}", "--reference", "2500", "--unit", "us"
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["extracted"] == "2.5 ms" and shown["correct"] is True


@pytest.mark.slow
def test_model_tiny_cli_copies_a_cached_build(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "kind: tiny-model\ncorpus_problems: 100\nvocab_size: 400\nhidden_size: 32\n"
        "intermediate_size: 64\nnum_hidden_layers: 1\nnum_attention_heads: 2\n"
        "num_key_value_heads: 1\nhead_dim: 16\nsteps: 2\nbatch_size: 2\n"
    )
    args = [
        "model",
        "tiny",
        "--config",
        str(config),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "m"),
    ]
    first = run_dta(*args)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "m" / "model.safetensors").exists() and "built" in first.stdout
    second = run_dta(*args)
    assert second.returncode == 0 and "from cache" in second.stdout

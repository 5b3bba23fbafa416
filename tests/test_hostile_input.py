"""Bad input of every kind: a clear error naming the file, exit 2, no traceback, nothing lost.

One test per kind of input a user (or a broken disk, or a hostile file) hands the toolkit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dta_edge.records import Completion, Problem
from dta_edge.storage import write_jsonl

from .conftest import REPO, run_dta

ASSETS = REPO / "tests" / "assets" / "report"
NOT_UTF8 = "name: caf\xe9\n".encode("latin-1")
BINARY = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00\x01\x00"
BILLION_LAUGHS = """kind: profile
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def assert_clean_failure(result, *needles: str) -> None:
    """Exit 2, every needle in stderr, and no Python traceback anywhere."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def write_problems(path: Path, ids=("a", "b")) -> Path:
    write_jsonl(path, [
        Problem(id=i, source="t", category="c", question="q", answer=1.0, answer_text="1")
        for i in ids
    ])  # fmt: skip
    return path


def write_completions(path: Path, ids=("a", "b")) -> Path:
    write_jsonl(path, [Completion(request_id=i, text=r"\boxed{1}") for i in ids])
    return path


# ---- YAML -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (NOT_UTF8, "not UTF-8"),
        (BINARY, "binary file"),
        (b"", "empty"),
        (b"   \n\n", "empty"),
    ],
)
def test_unreadable_yaml(tmp_path, content, needle):
    config = tmp_path / "bad.yaml"
    config.write_bytes(content)
    assert_clean_failure(run_dta("config", "validate", str(config)), str(config), needle)


def test_billion_laughs_fails_at_once(tmp_path):
    config = tmp_path / "laughs.yaml"
    config.write_text(BILLION_LAUGHS)
    # An expanding loader would not answer within minutes (and grow past gigabytes).
    result = run_dta("config", "validate", str(config), timeout=60)
    assert_clean_failure(result, str(config), "line 3", "aliases")


def test_self_referencing_alias(tmp_path):
    config = tmp_path / "loop.yaml"
    config.write_text("kind: profile\nname: &x [*x]\n")
    assert_clean_failure(run_dta("config", "validate", str(config), timeout=60), "aliases")


def test_folder_given_as_config(tmp_path):
    assert_clean_failure(run_dta("config", "validate", str(tmp_path)), "folder")


def test_markup_in_an_error_is_shown_verbatim(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text('kind: profile\nname: cpu\n"[bold]oops[/bold]": 1\n')
    result = run_dta("config", "validate", str(config))
    assert_clean_failure(result, "[bold]oops[/bold]")


# ---- JSONL, problems, completions ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("which", ["problems", "completions"])
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (NOT_UTF8, "not UTF-8"),
        (BINARY, "binary file"),
        (b"", "holds no"),
        (b'{"id": "a", "source"', "not valid JSON"),
    ],
)
def test_score_run_bad_files(tmp_path, which, content, needle):
    problems = write_problems(tmp_path / "problems.jsonl")
    completions = write_completions(tmp_path / "completions.jsonl")
    target = problems if which == "problems" else completions
    target.write_bytes(content)
    result = run_dta("score", "run", "--problems", str(problems), "--completions",
                     str(completions), "--out", str(tmp_path / "out"))  # fmt: skip
    assert_clean_failure(result, str(target), needle)


def test_score_run_folder_as_file(tmp_path):
    completions = write_completions(tmp_path / "completions.jsonl")
    result = run_dta("score", "run", "--problems", str(tmp_path), "--completions",
                     str(completions), "--out", str(tmp_path / "out"))  # fmt: skip
    assert_clean_failure(result, "folder")


def test_duplicate_problem_ids_in_score_run(tmp_path):
    problems = write_problems(tmp_path / "problems.jsonl", ids=("a", "b", "a"))
    completions = write_completions(tmp_path / "completions.jsonl")
    result = run_dta("score", "run", "--problems", str(problems), "--completions",
                     str(completions), "--out", str(tmp_path / "out"))  # fmt: skip
    assert_clean_failure(result, "'a' appears twice", "record 1", "record 3")


def test_out_naming_an_existing_file_is_refused_and_kept(tmp_path):
    problems = write_problems(tmp_path / "problems.jsonl")
    completions = write_completions(tmp_path / "completions.jsonl")
    existing = tmp_path / "notes.txt"
    existing.write_text("my notes\n")
    result = run_dta("score", "run", "--problems", str(problems), "--completions",
                     str(completions), "--out", str(existing))  # fmt: skip
    assert_clean_failure(result, str(existing), "existing file")
    assert existing.read_text() == "my notes\n"


@pytest.mark.parametrize(
    ("suffix", "content"),
    [(".jsonl", NOT_UTF8), (".csv", BINARY), (".json", NOT_UTF8), (".jsonl", b"")],
)
def test_problems_load_bad_files(tmp_path, suffix, content):
    data = tmp_path / f"telemath{suffix}"
    data.write_bytes(content)
    out = tmp_path / "problems.jsonl"
    out.write_text("earlier output\n")
    result = run_dta("problems", "load", str(data), "--out", str(out))
    assert_clean_failure(result, str(data))
    assert out.read_text() == "earlier output\n"


# ---- dta report on damaged run folders ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("folder", "file"),
    [
        ("cpu-bench", "summary.json"),
        ("curate", "funnel.json"),
        ("export-cpu-gguf-q8_0", "manifest.json"),
        ("reported", "reported.json"),
    ],
)
@pytest.mark.parametrize("damage", ["truncate", "binary", "empty", "wrong-shape"])
def test_report_on_damaged_files(tmp_path, folder, file, damage):
    runs = tmp_path / "runs"
    shutil.copytree(ASSETS / folder, runs / folder)
    path = runs / folder / file
    original = path.read_bytes()
    damaged = {
        "truncate": original[: len(original) // 2],
        "binary": BINARY,
        "empty": b"",
        "wrong-shape": b"[1, 2, 3]",
    }[damage]
    path.write_bytes(damaged)
    result = run_dta("report", str(runs), "--out", str(tmp_path / "report"))
    assert_clean_failure(result, str(path))


def test_manifest_missing_a_field(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(ASSETS / "export-cpu-gguf-q8_0", runs / "export")
    path = runs / "export" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"]
    path.write_text(json.dumps(manifest))
    result = run_dta("report", str(runs), "--out", str(tmp_path / "report"))
    assert_clean_failure(result, str(path), "files")


def test_math_text_in_a_system_name_is_drawn_literally(tmp_path):
    runs = tmp_path / "runs" / "bench"
    shutil.copytree(ASSETS / "cpu-bench", runs)
    hostile = "tiny $\\frac{1}{0$ $x^{"
    for name in ("summary.json", "results.jsonl"):
        path = runs / name
        path.write_text(path.read_text().replace("tiny-gguf-q8_0-thinking", hostile.replace(
            "\\", "\\\\")))  # fmt: skip
    result = run_dta("report", str(tmp_path / "runs"), "--out", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "report" / "report.html").read_text()
    assert "tiny $\\frac{1}{0$ $x^{" in html  # the table cell, verbatim
    assert "<svg" in html

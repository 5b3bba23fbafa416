"""Nothing outside --out is written or removed; a folder that is not ours is never written.

Names read from files (a manifest's file list, a target name, ``embedded:tiny@NAME``) are
validated as plain names inside their folder before anything is opened or removed; a run
folder holding files no run of ours wrote, or a symbolic link, is refused before any file in it
is opened for writing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dta_edge.config import load_config
from dta_edge.export.targets import ExportTarget
from dta_edge.records import Completion, Problem
from dta_edge.runs import run_record
from dta_edge.storage import write_jsonl

from ..conftest import REPO
from .confine import confinement_works
from .confine import run_dta_confined as dta


def assert_refused(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture
def victim(tmp_path) -> Path:
    """A user's folder beside --out that nothing may touch."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "x").write_text("precious\n")
    return folder


def _export_folder(out: Path, file_path: str) -> None:
    """An export folder of ours whose manifest lists ``file_path``."""
    with run_record(out, "export", {}, guard=False):
        pass
    target = load_config(REPO / "export" / "cpu-gguf-q8_0.yaml", ExportTarget)
    manifest = {
        "schema_version": 1, "target": target.model_dump(mode="json"), "source_model": "m",
        "source_sha256": "0", "adapter": None, "format": "gguf", "quantization": "q8_0",
        "files": [{"path": file_path, "bytes": 1, "sha256": "0"}], "parity": {},
        "tools": {}, "seconds": 1.0, "peak_rss_mib": 1.0,
    }  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.slow
@pytest.mark.parametrize(
    "listed",
    ["../victim/x", "../victim", "{victim}/x", "cpu.gguf/../../victim", "..", "./../victim"],
)
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_manifest_naming_a_path_outside_removes_nothing(tmp_path, victim, listed, overwrite):
    out = tmp_path / "export"
    _export_folder(out, listed.format(victim=victim))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    args = ["export", "--target", "cpu-gguf-q8_0", "--model", str(model), "--out", str(out)]
    result = dta(tmp_path, *args, *(["--overwrite"] if overwrite else []))
    if not overwrite:
        assert_refused(result, "manifest.json", "files")
    else:  # an untrusted file list is dropped whole, nothing it names removed; then the
        assert_refused(result, "safetensors")  # export goes on, and fails on this fake model
    assert (victim / "x").read_text() == "precious\n"
    assert (tmp_path / "victim").is_dir() and (tmp_path / "model" / "config.json").exists()


def test_a_symlink_in_an_export_folder_is_refused_and_never_followed(tmp_path, victim):
    out = tmp_path / "export"
    _export_folder(out, "cpu-gguf-q8_0.gguf")
    (out / "cpu-gguf-q8_0.gguf").symlink_to(victim)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    args = ["export", "--target", "cpu-gguf-q8_0", "--model", str(model), "--out", str(out)]
    assert_refused(dta(tmp_path, *args), "symbolic link")
    assert (victim / "x").read_text() == "precious\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["../../x", "a/b", "..", "/dta-absolute/x", "x\\..\\y", "REACHABLE"]
)
def test_an_embedded_target_is_a_plain_name(tmp_path, name):
    if name == "REACHABLE":  # a target file that exists, reached from the shipped folder
        import os

        from dta_edge.shipped import shipped_folder

        (tmp_path / "evil.yaml").write_text(
            (REPO / "export" / "cpu-gguf-q8_0.yaml").read_text().replace(
                "name: cpu-gguf-q8_0", "name: evil"))  # fmt: skip
        name = os.path.relpath(tmp_path / "evil", shipped_folder("export"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "kind: bench-suite\nname: s\nproblems: {generate: {n: 2}}\nsystems:\n"
        f"  - {{name: a, backend: llama-cpp, model: 'embedded:tiny@{name}'}}\n"
    )
    assert_refused(dta(tmp_path, "config", "validate", str(suite)), "systems[0].model")
    assert_refused(dta(tmp_path, "bench", "--suite", str(suite), "--out", str(tmp_path / "o")),
                   "systems[0].model")  # fmt: skip
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["../evil", "a/b", ".."])
def test_a_target_name_is_a_plain_name(tmp_path, name):
    target = tmp_path / "t.yaml"
    target.write_text(f"kind: export-target\nname: '{name}'\nformat: gguf\nquantization: q8_0\n"
                      "profile: profiles/cpu.yaml\n")  # fmt: skip
    assert_refused(dta(tmp_path, "config", "validate", str(target)), "name")


def _score_inputs(folder: Path) -> list[str]:
    write_jsonl(folder / "problems.jsonl", [
        Problem(id=i, source="t", category="c", question="q", answer=1.0, answer_text="1")
        for i in ("a", "b")
    ])  # fmt: skip
    write_jsonl(folder / "completions.jsonl",
                [Completion(request_id=i, text=r"\boxed{1}") for i in ("a", "b")])  # fmt: skip
    return ["score", "run", "--problems", str(folder / "problems.jsonl"),
            "--completions", str(folder / "completions.jsonl")]  # fmt: skip


FOREIGN = b'{"someone": "else"}\n{"their last line, not ours"'


COMMANDS = {
    "score": lambda tmp, out: [*_score_inputs(tmp), "--out", str(out)],
    "problems": lambda tmp, out: ["problems", "generate", "--n", "3", "--out", str(out)],
    "report": lambda tmp, out: ["report", str(REPO / "tests" / "assets" / "report"),
                                "--out", str(out)],
}  # fmt: skip
THEIRS = ("results.jsonl", "scores.jsonl", "problems.jsonl", "report.md")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "overwrite"),
    [("score", False), ("score", True), ("problems", False), ("problems", True),
     ("report", False)],
)  # fmt: skip
def test_a_folder_of_someone_elses_files_is_never_written(tmp_path, command, overwrite):
    out = tmp_path / "mine"
    out.mkdir()
    for name in THEIRS:
        (out / name).write_bytes(FOREIGN)
    args = COMMANDS[command](tmp_path, out) + (["--overwrite"] if overwrite else [])
    assert_refused(dta(tmp_path, *args), str(out), "no dta run wrote")
    for name in THEIRS:
        assert (out / name).read_bytes() == FOREIGN  # not cut, not replaced, not moved
    assert sorted(p.name for p in out.iterdir()) == sorted(THEIRS)  # and nothing added


@pytest.mark.slow
@pytest.mark.parametrize(
    ("link", "refusal"), [("symlink", "symbolic link"), ("hard link", "hard links")]
)
def test_a_linked_file_in_a_run_folder_is_never_written_through(tmp_path, link, refusal):
    args = _score_inputs(tmp_path)
    out = tmp_path / "out"
    assert dta(tmp_path, *args, "--out", str(out)).returncode == 0
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"line one\nline two without newline")
    (out / "scores.jsonl").unlink()
    if link == "symlink":
        (out / "scores.jsonl").symlink_to(notes)
    else:
        os.link(notes, out / "scores.jsonl")
    assert_refused(dta(tmp_path, *args, "--out", str(out)), refusal)
    assert notes.read_bytes() == b"line one\nline two without newline"


@pytest.mark.slow
def test_model_tiny_onto_an_existing_folder(tmp_path, tiny_model_dir):
    out = tmp_path / "model"
    assert dta(tmp_path, "model", "tiny", "--out", str(out)).returncode == 0
    (out / "extra.txt").write_text("mine")
    assert_refused(dta(tmp_path, "model", "tiny", "--out", str(out)), "--overwrite")
    assert (out / "extra.txt").read_text() == "mine"  # nothing mixed in, nothing removed
    moved = dta(tmp_path, "model", "tiny", "--out", str(out), "--overwrite")
    assert moved.returncode == 0, moved.stderr
    aside = list(tmp_path.glob("model.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "extra.txt").exists()
    assert not (out / "extra.txt").exists() and (out / "config.json").exists()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("x")
    refused = dta(tmp_path, "model", "tiny", "--out", str(notes), "--overwrite")
    assert_refused(refused, "no config.json")
    assert (notes / "todo.txt").exists()


@pytest.mark.parametrize(
    "shard", ["../outside.safetensors", "/dta-absolute/x.safetensors", "a/../../b"]
)
def test_a_safetensors_index_names_shards_inside_its_folder(tmp_path, shard):
    from dta_edge.errors import ExportError
    from dta_edge.models.safetensors_stream import weight_files

    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.safetensors").write_bytes(b"\0" * 16)
    index = {"weight_map": {"model.embed_tokens.weight": shard}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ExportError, match="weight_map"):
        weight_files(folder)


def test_these_tests_cannot_reach_outside_their_folder(tmp_path):
    """The guard above holds: a confined `dta` cannot write beside its folder."""
    if not confinement_works():
        pytest.skip("not root, or no unshare: these tests run unconfined here")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jsonl"
    args = ("problems", "generate", "--n", "2", "--out")
    refused = dta(tmp_path, *args, str(outside))
    assert refused.returncode != 0 and not outside.exists()
    allowed = dta(tmp_path, *args, str(tmp_path / "p.jsonl"))
    assert allowed.returncode == 0, allowed.stderr
    assert (tmp_path / "p.jsonl").exists()

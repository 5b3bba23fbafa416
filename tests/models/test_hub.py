"""Models by hub id, resolved through a Hugging Face cache laid out on disk (no network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, tiny_model_dir) -> Path:
    """HF_HOME holding the tiny model as hub id dta-test/tiny-qwen3 (the cache's own layout)."""
    home = tmp_path / "hf"
    repo = home / "hub" / "models--dta-test--tiny-qwen3"
    snapshot = repo / "snapshots" / REVISION
    shutil.copytree(tiny_model_dir, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return home


def dta(*args: str, home: Path, offline: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("HF_HUB_CACHE", None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-m", "dta_edge", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=600)  # fmt: skip


def test_export_takes_a_cached_hub_id(tmp_path, hub_cache):
    out = tmp_path / "export"
    result = dta("export", "--target", "cpu-gguf-q8_0", "--model", "dta-test/tiny-qwen3",
                 "--out", str(out), "--parity", "off", home=hub_cache)  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source_model"].endswith(f"snapshots/{REVISION}")


@pytest.mark.slow
def test_model_check_takes_a_cached_hub_id(tmp_path, hub_cache):
    result = dta("model", "check", "dta-test/tiny-qwen3", "--n", "2", "--max-new-tokens", "8",
                 "--out", str(tmp_path / "check"), home=hub_cache)  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["validate", "bench", "export", "check"])
def test_an_uncached_hub_id_offline_is_one_line_before_any_work(tmp_path, hub_cache, command):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "kind: bench-suite\nname: s\nproblems: {generate: {n: 2}}\nsystems:\n"
        "  - {name: a, backend: transformers, model: dta-test/not-cached}\n"
    )
    args = {
        "validate": ["config", "validate", str(suite)],
        "bench": ["bench", "--suite", str(suite), "--out", str(tmp_path / "b")],
        "export": ["export", "--target", "cpu-gguf-q8_0", "--model", "dta-test/not-cached",
                   "--out", str(tmp_path / "e")],
        "check": ["model", "check", "dta-test/not-cached", "--out", str(tmp_path / "c")],
    }[command]  # fmt: skip
    result = dta(*args, home=hub_cache)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "dta-test/not-cached" in result.stderr and "hf download" in result.stderr
    assert not (tmp_path / "b" / "results.jsonl").exists()


def test_a_served_name_is_never_looked_up_on_the_hub(tmp_path, hub_cache):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "kind: bench-suite\nname: s\nproblems: {generate: {n: 2}}\nsystems:\n"
        "  - {name: a, backend: openai, model: Qwen/Qwen3-32B, "
        "options: {base_url: 'http://127.0.0.1:9/v1'}}\n"
    )
    result = dta("config", "validate", str(suite), home=hub_cache)
    assert result.returncode == 0, result.stderr


def test_a_model_check_on_a_file_or_missing_folder_is_one_line(tmp_path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    for target, needle in (
        (gguf, "takes a transformers folder"),
        (tmp_path / "nope", "no such transformers model folder"),
    ):
        result = dta("model", "check", str(target), "--out", str(tmp_path / "o"),
                     home=tmp_path)  # fmt: skip
        assert result.returncode == 2 and needle in result.stderr
        assert "Traceback" not in result.stderr

"""API keys never reach disk or logs; failed requests are asked again on a rerun."""

import os
import subprocess
import sys

from dta_edge.records import Candidate
from dta_edge.storage import read_jsonl

from ..backends.fault_server import FaultServer
from ..conftest import REPO, run_dta
from .test_pipeline import server_recipe

KEY = "sk-hostile-echo-0123456789"


def curate_phase1(recipe, out, env_key: str | None):
    env = {k: v for k, v in os.environ.items() if k != "DTA_SECRET_KEY"}
    if env_key is not None:
        env["DTA_SECRET_KEY"] = env_key
    return subprocess.run(
        [sys.executable, "-m", "dta_edge", "curate", "phase1", "--recipe", str(recipe),
         "--out", str(out)], capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip


def assert_key_nowhere(folder, result):
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in result.stdout + result.stderr


def test_error_bodies_echoing_headers_are_redacted(tmp_path, tiny_model_dir):
    server = FaultServer(["echo400"])  # the first request's 400 body holds the Bearer header
    try:
        extra = "        api_key_env: DTA_SECRET_KEY"
        recipe = server_recipe(tmp_path, server.base_url, tiny_model_dir, extra, n=2, k=1)
        recipe.write_text(recipe.read_text().replace("concurrency: 2", "concurrency: 1"))
        out = tmp_path / "out"
        result = curate_phase1(recipe, out, KEY)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert server.headers[0]["Authorization"] == f"Bearer {KEY}"
    served = [c for c in read_jsonl(out / "candidates.jsonl", Candidate) if c.teacher == "served"]
    failed = [c for c in served if c.error]
    assert len(failed) == 1 and "HTTP 400" in failed[0].error and "***" in failed[0].error
    assert_key_nowhere(out, result)


def test_unset_key_variable_stops_before_the_first_request(tmp_path, tiny_model_dir):
    server = FaultServer([])
    try:
        extra = "        api_key_env: DTA_SECRET_KEY"
        recipe = server_recipe(tmp_path, server.base_url, tiny_model_dir, extra, n=2, k=1)
        result = curate_phase1(recipe, tmp_path / "out", None)
    finally:
        server.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "DTA_SECRET_KEY is not set" in result.stderr
    assert server.requests == 0


def test_inline_key_is_refused_before_anything_is_written(tmp_path, tiny_model_dir):
    server = FaultServer([])
    try:
        extra = f"        api_key: {KEY}"
        recipe = server_recipe(tmp_path, server.base_url, tiny_model_dir, extra, n=2, k=1)
        validate = run_dta("config", "validate", str(recipe))
        out = tmp_path / "out"
        result = curate_phase1(recipe, out, None)
    finally:
        server.close()
    for attempt in (validate, result):
        assert attempt.returncode == 2, attempt.stderr
        assert "teachers.1.model.options.api_key" in attempt.stderr
        assert "api_key_env" in attempt.stderr and KEY not in attempt.stderr + attempt.stdout
    assert not out.exists() and server.requests == 0


def test_bearer_value_anywhere_in_a_config_is_refused(tmp_path, tiny_model_dir):
    extra = f'        extra_body: {{headers: "Bearer {KEY}"}}'
    recipe = server_recipe(tmp_path, "http://127.0.0.1:9/v1", tiny_model_dir, extra, n=2, k=1)
    text = recipe.read_text().replace("        extra_body: {repeat_penalty: 1.0}\n", "")
    recipe.write_text(text)
    result = run_dta("config", "validate", str(recipe))
    assert result.returncode == 2 and "credential" in result.stderr and KEY not in result.stderr


def test_failed_requests_are_asked_again_on_a_rerun(tmp_path, tiny_model_dir):
    server = FaultServer(["e500", "e500"])  # one request fails both attempts
    try:
        recipe = server_recipe(tmp_path, server.base_url, tiny_model_dir, n=3, k=1)
        recipe.write_text(recipe.read_text().replace("concurrency: 2", "concurrency: 1"))
        out = tmp_path / "out"
        first = run_dta("curate", "phase1", "--recipe", str(recipe), "--out", str(out))
        asked_first = server.requests
        second = run_dta("curate", "phase1", "--recipe", str(recipe), "--out", str(out))
    finally:
        server.close()
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert asked_first == 4 and server.requests == 5  # only the failed request went out again
    candidates = read_jsonl(out / "candidates.jsonl", Candidate)
    keys = [c.key for c in candidates]
    assert len(keys) == len(set(keys)) == 3 + 3  # reference + served, each once
    assert all(c.error is None for c in candidates)
    retried = read_jsonl(out / "candidates.retried.jsonl", Candidate)
    assert len(retried) == 1 and "HTTP 500" in retried[0].error

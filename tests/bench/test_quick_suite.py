"""`dta bench --model M`: a suite from one model, written beside its results to repeat the run."""

from __future__ import annotations

import json

import pytest

from dta_edge.bench.quick_suite import infer_backend, quick_suite
from dta_edge.errors import ConfigError

from ..conftest import run_dta


def test_the_backend_follows_from_the_model(tmp_path, tiny_model_dir):
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "genai_config.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    cases = {
        "model.gguf": "llama-cpp", str(tmp_path / "onnx"): "onnx",
        str(tiny_model_dir): "transformers", "Qwen/Qwen3-8B": "transformers",
        "embedded:tiny": "transformers", "embedded:tiny@cpu-gguf-q8_0": "llama-cpp",
        "embedded:tiny@cpu-onnx-int8": "onnx",
    }  # fmt: skip
    for model, backend in cases.items():
        assert infer_backend(model, None) == backend, model
    assert infer_backend("qwen3-32b", "http://127.0.0.1:8000/v1") == "openai"
    with pytest.raises(ConfigError, match="--backend"):
        infer_backend(str(tmp_path / "notes"), None)


def test_thinking_both_is_two_systems_and_problem_sets_are_named():
    suite = quick_suite("model.gguf", thinking="both", problems="telemath", limit=7, k=2)
    assert [s.name for s in suite.systems] == ["model", "model-thinking"]
    assert [s.thinking for s in suite.systems] == [False, True] and suite.n == 7
    assert suite.systems[1].sampling.max_tokens == 2 * suite.systems[0].sampling.max_tokens
    assert suite.problems.generate is not None and suite.problems.generate.tier == "standard"
    with pytest.raises(ConfigError, match="nor one of demo, telemath"):
        quick_suite("model.gguf", problems="no-such-set")


@pytest.mark.slow
def test_one_line_bench_writes_a_suite_that_repeats_the_run(tmp_path, tiny_gguf_f32):
    out = tmp_path / "first"
    first = run_dta("bench", "--model", str(tiny_gguf_f32), "--limit", "3", "--out", str(out))
    assert first.returncode == 0, first.stderr
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3
    again = run_dta("bench", "--suite", str(out / "suite.yaml"), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "run.json").read_text())["resumed"] is True
    assert (out / "results.jsonl").read_text().splitlines() == lines  # nothing asked again
    fewer = run_dta("bench", "--suite", str(out / "suite.yaml"), "--limit", "2",
                    "--out", str(tmp_path / "fewer"))  # fmt: skip
    assert fewer.returncode == 0, fewer.stderr
    assert len((tmp_path / "fewer" / "results.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("args", [[], ["--suite", "demo", "--model", "m.gguf"]])
def test_suite_or_model_one_of_them(tmp_path, args):
    result = run_dta("bench", *args, "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "--suite or --model" in result.stderr

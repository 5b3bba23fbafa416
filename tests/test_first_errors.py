"""The errors a new user meets first: one line each, exit 2, the fix named, before any work."""

from __future__ import annotations

import pytest

from .conftest import run_dta


def one_line(result, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "--suite", "dmeo", "--out", "{tmp}/b"], "did you mean 'demo'"),
        (["bench", "--suite", "demo", "--profile", "cpuu", "--out", "{tmp}/b"],
         "did you mean 'cpu'"),
        (["train", "--recipe", "train-dmeo", "--data", "x.jsonl", "--out", "{tmp}/t"],
         "did you mean 'train-demo'"),
        (["export", "--target", "cpu-gguf-q8", "--model", "embedded:tiny", "--out", "{tmp}/e"],
         "did you mean 'cpu-gguf-q8_0'"),
        (["config", "validate", "telemath-qwen"], "did you mean 'telemath-qwen3'"),
    ],
)  # fmt: skip
def test_a_mistyped_shipped_name_suggests_the_right_one(tmp_path, args, needle):
    one_line(run_dta(*[a.format(tmp=tmp_path) for a in args]), needle)
    assert not list(tmp_path.iterdir())  # nothing started


def test_train_on_a_missing_set_stops_at_once(tmp_path):
    result = run_dta("train", "--recipe", "train-demo", "--data", str(tmp_path / "nope.jsonl"),
                     "--out", str(tmp_path / "run"))  # fmt: skip
    one_line(result, "nope.jsonl", "No such file")
    assert not (tmp_path / "run").exists()  # no failed run.json left behind


def test_an_unknown_backend_option_says_what_was_meant(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("kind: bench-suite\nname: s\nproblems: {generate: {n: 2}}\nsystems:\n"
                     "  - {name: a, backend: openai, model: m, options: "
                     "{base_url: 'http://127.0.0.1:9/v1', conncurrency: 2}}\n")  # fmt: skip
    result = run_dta("config", "validate", str(suite))
    assert result.returncode == 2 and "did you mean 'concurrency'" in result.stderr


def test_the_cpu_meter_fallback_is_a_note_not_an_error(tmp_path, tiny_gguf_f32):
    from dta_edge.meters.rapl import RaplMeter  # noqa: F401 - the meter the profile asks first

    result = run_dta("bench", "--model", str(tiny_gguf_f32), "--limit", "1",
                     "--out", str(tmp_path / "b"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "invalid config" not in result.stdout + result.stderr
    if "rapl unavailable" in result.stdout:  # no RAPL here (a VM): the estimate, said once
        assert "using the cpu-time estimate" in result.stdout

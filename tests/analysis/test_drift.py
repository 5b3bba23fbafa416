"""Latent drift on constructed cases: identical models do not drift; a real change does."""

import json

import numpy as np
import pytest

from dta_edge.analysis.drift import analyze_drift, centroid_drift, pooled_states
from dta_edge.analysis.inputs import load_model, read_pairs

from ..conftest import run_dta


def test_centroid_distances_on_known_points():
    base = np.array([[1.0, 0.0], [3.0, 0.0]])  # centroid (2, 0)
    moved = base + np.array([0.0, 2.0])  # centroid (2, 2): L2 2, 45 degrees
    drift = centroid_drift(base, moved)
    assert drift["centroid_l2"] == pytest.approx(2.0)
    assert drift["centroid_l2_relative"] == pytest.approx(1.0)
    assert drift["centroid_cosine_distance"] == pytest.approx(1 - np.cos(np.pi / 4))
    assert drift["mean_paired_l2"] == pytest.approx(2.0)
    assert centroid_drift(base, base) == {
        "centroid_l2": 0.0, "centroid_l2_relative": 0.0,
        "centroid_cosine_distance": 0.0, "mean_paired_l2": 0.0,
    }  # fmt: skip


@pytest.fixture(scope="module")
def prompts(held_out):
    return [q for q, _ in read_pairs(held_out)]


@pytest.mark.slow
def test_identical_models_have_zero_drift(tiny_model_dir, prompts, tmp_path):
    models = [load_model(n, str(tiny_model_dir), device="cpu") for n in ("base", "same")]
    path = analyze_drift(models, {"a": prompts[:8], "b": prompts[8:]}, tmp_path, layer=1)
    result = json.loads(path.read_text())
    assert result["layers"] == [1, 4]  # the chosen layer and the tiny model's last
    assert len(result["drift"]) == 4  # 2 benchmarks x 2 layers x 1 tuned model
    for row in result["drift"]:
        assert row["centroid_l2"] == 0.0 and row["mean_paired_l2"] == 0.0
        assert row["centroid_cosine_distance"] == pytest.approx(0.0, abs=1e-7)
    assert (tmp_path / "drift.png").stat().st_size > 1000


def test_an_adapter_drifts_and_deeper_layers_drift_more(tiny_model_dir, lora_adapter, prompts,
                                                       tmp_path):  # fmt: skip
    base = load_model("base", str(tiny_model_dir), device="cpu")
    tuned = load_model("lora", str(lora_adapter), base=str(tiny_model_dir), device="cpu")
    path = analyze_drift([base, tuned], {"all": prompts}, tmp_path, layer=0)
    rows = {r["layer"]: r for r in json.loads(path.read_text())["drift"]}
    assert rows[0]["centroid_l2"] == 0.0  # LoRA on q/v/down leaves the embeddings alone
    assert rows[4]["centroid_l2"] > 0 and rows[4]["centroid_cosine_distance"] > 0


def test_padding_does_not_change_pooled_states(tiny_model_dir, prompts):
    lm = load_model("base", str(tiny_model_dir), device="cpu")
    batched = pooled_states(lm, prompts[:5], [4], batch_size=5)[4]
    single = np.vstack([pooled_states(lm, [p], [4], batch_size=1)[4] for p in prompts[:5]])
    np.testing.assert_allclose(batched, single, atol=1e-5)


@pytest.mark.slow
def test_cli_two_benchmarks(tiny_model_dir, lora_adapter, held_out, tmp_path):
    second = tmp_path / "second.jsonl"
    second.write_text("".join(json.dumps({"question": f"What is {i} + {i}?"}) + "\n"
                              for i in range(5)))  # fmt: skip
    out = tmp_path / "drift"
    result = run_dta("analyze", "drift", "--models", f"base={tiny_model_dir},lora={lora_adapter}",
                     "--data", str(held_out), "--data", str(second), "--out", str(out),
                     "--device", "cpu")  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads((out / "drift.json").read_text())
    assert payload["benchmarks"] == {"held-out": 16, "second": 5}
    assert {r["model"] for r in payload["drift"]} == {"lora"}
    assert (out / "drift.png").exists()
    bad = run_dta("analyze", "drift", "--models", f"base={tiny_model_dir},x={tiny_model_dir}",
                  "--data", str(held_out), "--layer", "9",
                  "--out", str(tmp_path / "bad"))  # fmt: skip
    assert bad.returncode == 2 and "--layer 9" in bad.stderr

"""`dta demo --fast`: the whole chain offline on fixed seeds, then a rerun that skips every stage.

It runs from the installed wheel in a temporary directory (the ``installed`` fixture), so this
one run also shows that the wheel carries every shipped file the demo needs.

What must hold on these seeds is asserted, not exact numbers: the fine-tuned students beat the
base, Phase II lowers the student's NLL, the two training sets are matched, and the big
baseline's thinking row spends more tokens than its non-thinking row.
"""

import json

import pytest

from dta_edge.demo import STAGES

from .conftest import dta


@pytest.mark.slow
def test_fast_demo_shows_the_method_and_resumes(installed, tmp_path):
    out = tmp_path / "demo"
    first = dta(installed, tmp_path, "demo", "--fast", "--out", "demo", timeout=1500)
    assert first.returncode == 0, first.stderr[-2000:]
    report = out / "report" / "report.html"
    assert first.stdout.strip().splitlines()[-1].endswith("report.html")
    for noise in ("FutureWarning", "llama_model_load", "load_tensors"):
        assert noise not in first.stdout + first.stderr, noise
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings) == list(STAGES) and all(t >= 0 for t in timings.values())

    funnel = json.loads((out / "curate" / "funnel.json").read_text())
    assert funnel["phase1"]["by_teacher"]["big"] > 0
    assert funnel["phase2"]["student_nll_after_mean"] < funnel["phase2"]["student_nll_before_mean"]
    assert funnel["outputs"]["sft.jsonl"] == funnel["outputs"]["distilled.jsonl"] > 0

    summary = json.loads((out / "bench" / "summary.json").read_text())
    rows = {s["system"]: s for s in summary["systems"]}
    assert set(rows) == {"base-gguf", "distilled-gguf", "dta-gguf", "dta-onnx", "big-gguf",
                         "big-gguf-thinking", "big-gguf-cons2", "distilled-gguf-seed1",
                         "dta-gguf-seed1"}  # fmt: skip
    for arm in ("dta", "distilled"):  # two seeds per arm in --fast, the first the recipe's
        assert (rows[f"{arm}-gguf"]["arm"], rows[f"{arm}-gguf"]["seed"]) == (arm, 0)
        assert (rows[f"{arm}-gguf-seed1"]["arm"], rows[f"{arm}-gguf-seed1"]["seed"]) == (arm, 1)
    for tuned in ("distilled-gguf", "dta-gguf"):
        assert rows[tuned]["pass_at_1"] > rows["base-gguf"]["pass_at_1"], tuned
    thinking, plain = rows["big-gguf-thinking"], rows["big-gguf"]
    assert thinking["output_tokens_per_problem"] > plain["output_tokens_per_problem"]
    assert rows["big-gguf-cons2"]["cons_at_k"] is not None
    for system in rows.values():  # energy on every row: RAPL where readable, else estimated
        assert system["joules_per_output_token"] is not None, system["system"]
        assert system["energy_estimated"] == (system["meter"] != "rapl"), system["system"]

    for name in ("dta", "distilled", "dta-seed1", "distilled-seed1"):
        assert (out / "train" / name / "model").exists()
    seeds = [json.loads((out / "train" / name / "train.json").read_text())
             for name in ("dta", "dta-seed1")]  # fmt: skip
    assert seeds[0]["train_loss"] != seeds[1]["train_loss"]  # another seed, another run
    analysis = out / "analysis"
    for name in ("loss/loss_curves", "drift/drift", "pairwise/pairwise"):
        assert (analysis / f"{name}.json").exists() and (analysis / f"{name}.png").exists()
    html = report.read_text()
    for section in ("Loss-curve comparison", "Token shift", "Latent drift", "Pairwise judging",
                    "energy", "demo tier"):  # fmt: skip
        assert section in html
    assert "headline: dta-gguf: pass@1" in first.stdout and "vs big-gguf-thinking" in first.stdout
    assert "pooled over 2 vs 2 seeds [hierarchical 95% CI" in first.stdout
    assert "Seeds (one arm trained several times)" in html
    assert "Paper&#39;s claims at this scale" in html or "Paper's claims at this scale" in html
    claims = [line for line in first.stdout.splitlines() if line.startswith("claim: ")]
    assert len(claims) == 8  # accuracy x2, energy, latency, token shift, drift, loss, pairwise
    assert not [line for line in claims if ": not measured (" in line]

    second = dta(installed, tmp_path, "demo", "--fast", "--out", "demo", timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.count("done before") == len(STAGES)

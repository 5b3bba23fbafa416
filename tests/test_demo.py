"""`dta demo --fast`: the whole chain offline, then a rerun that skips every finished stage."""

import json

from dta_edge.demo import STAGES

from .conftest import run_dta


def test_fast_demo_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "demo"
    first = run_dta("demo", "--fast", "--out", str(out), timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    report = out / "report" / "report.html"
    assert first.stdout.strip().splitlines()[-1].endswith("report.html")
    assert report.exists() and "show that the pipeline runs end to end" in report.read_text()
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings) == list(STAGES) and all(t >= 0 for t in timings.values())
    summary = json.loads((out / "bench" / "summary.json").read_text())
    names = {s["system"] for s in summary["systems"]}
    for variant in ("base", "distilled", "dta"):
        assert {f"{variant}-gguf", f"{variant}-gguf-thinking", f"{variant}-onnx"} <= names
    assert any(s["k"] > 1 and s["cons_at_k"] is not None for s in summary["systems"])
    # energy on every row, never silently absent: RAPL where readable, else the estimator
    for system in summary["systems"]:
        assert system["joules_per_output_token"] is not None, system["system"]
        assert system["energy_estimated"] == (system["meter"] != "rapl"), system["system"]
        if system["system"].endswith("gguf"):
            assert 0 < system["bandwidth_share"] < 1 and system["decode_bytes_per_token"] > 0
    assert (out / "train" / "dta" / "adapter").exists()
    assert (out / "train" / "distilled" / "adapter").exists()
    analysis = out / "analysis"
    for name in ("loss/loss_curves", "drift/drift", "pairwise/pairwise"):
        assert (analysis / f"{name}.json").exists() and (analysis / f"{name}.png").exists()
    shift = json.loads((analysis / "token-shift" / "token_shift.json").read_text())
    assert set(shift["models"]) == {"distilled", "dta"}
    pairwise = json.loads((analysis / "pairwise" / "pairwise.json").read_text())
    assert pairwise["problems_judged"] + pairwise["failed"] == 3  # FAST: 3 bench problems
    html = report.read_text()
    for section in (
        "Loss-curve comparison",
        "Token shift",
        "Latent drift",
        "Pairwise judging",
        "Roofline: decode bandwidth",
        "energy",
    ):
        assert section in html
    clouds = [m["word_cloud"] for m in shift["models"].values() if m["word_cloud"]]
    assert all((analysis / "token-shift" / png).exists() for png in clouds)
    assert html.count("data:image/png;base64,") == 2 + len(clouds)  # drift, pairwise, clouds
    second = run_dta("demo", "--fast", "--out", str(out), timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.count("done before") == len(STAGES)

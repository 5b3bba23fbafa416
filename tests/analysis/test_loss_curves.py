"""Loss-curve comparison on constructed curves whose answers are known."""

import json

from dta_edge.analysis.loss_curves import compare_curves, write_loss_analysis
from dta_edge.records import LossPoint
from dta_edge.storage import write_jsonl

from ..conftest import run_dta


def curve(folder, evals, trains=None):
    folder.mkdir(parents=True)
    points = [LossPoint(split="eval", step=s, epoch=0.0, loss=v) for s, v in evals]
    points += [LossPoint(split="train", step=s, epoch=0.0, loss=v) for s, v in trains or evals]
    write_jsonl(folder / "loss.jsonl", points)
    return folder


def test_steps_to_threshold_and_minimum(tmp_path):
    fast = curve(tmp_path / "dta", [(1, 2.0), (2, 1.2), (3, 0.9), (4, 0.8), (5, 0.85)])
    slow = curve(tmp_path / "sft", [(1, 2.0), (2, 1.8), (3, 1.4), (4, 1.1), (5, 1.0)])
    stats, threshold = compare_curves({"dta": fast, "sft": slow})
    assert threshold == 1.0  # the highest minimum: both curves reach it
    by_run = {s.run: s for s in stats}
    assert (by_run["dta"].minimum, by_run["dta"].minimum_step) == (0.8, 4)
    assert by_run["dta"].steps_to_threshold == 3 and by_run["sft"].steps_to_threshold == 5
    assert by_run["dta"].final == 0.85
    stats, _ = compare_curves({"dta": fast, "sft": slow}, threshold=0.5)
    assert all(s.steps_to_threshold is None for s in stats)  # never reached


def test_cli_writes_json_and_png(tmp_path):
    a = curve(tmp_path / "a", [(1, 1.0), (2, 0.5)])
    b = curve(tmp_path / "b", [(1, 1.0), (2, 0.7)])
    out = tmp_path / "out"
    result = run_dta("analyze", "loss", f"dta={a}", f"distilled={b}", "--out", str(out))
    assert result.returncode == 0, result.stderr
    payload = json.loads((out / "loss_curves.json").read_text())
    assert payload["eval"]["threshold"] == 0.7
    assert (out / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert write_loss_analysis({"a": a}, tmp_path / "o2", None).exists()
    bad = run_dta("analyze", "loss", str(a), "--out", str(out))
    assert bad.returncode == 2 and "NAME=TRAIN_DIR" in bad.stderr

"""`dta train` under torchrun: two CPU processes (gloo DDP) on the tiny student.

Every rank trains; rank 0 alone writes. The run must leave one loss.jsonl without a repeated
step, one adapter that loads, a falling loss, and a rerun must resume without adding points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dta_edge.records import LossPoint
from dta_edge.storage import read_jsonl

from ..conftest import REPO
from .conftest import recipe


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run --nproc_per_node 2 -m dta_edge ARGS` on the CPU."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "NO_COLOR": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--standalone", "-m", "dta_edge", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=600)  # fmt: skip


def test_two_process_ddp_writes_once_and_resumes(tmp_path, sft_file, tiny_model_dir):
    out = tmp_path / "out"
    spec = recipe(tmp_path, epochs=2, batch_size=4, logging_steps=1, save_steps=2)
    args = ("train", "--recipe", spec, "--data", str(sft_file), "--out", str(out))
    result = torchrun(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "train.json").read_text())
    assert summary["processes"] == 2
    # 30 training examples, 4 per process and step, 2 processes: 4 steps an epoch, not 8
    assert summary["steps"] == 8
    points = read_jsonl(out / "loss.jsonl", LossPoint)
    keys = [(p.split, p.step) for p in points]
    assert len(keys) == len(set(keys))
    assert [p.step for p in points if p.split == "train"] == list(range(1, 9))
    evals = [p.loss for p in points if p.split == "eval"]
    assert evals[-1] < evals[0]
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert result.stdout.count("steps in") == 1  # only rank 0 reports

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tuned = PeftModel.from_pretrained(base, out / "adapter")
    assert any("lora_B" in name and param.abs().sum() > 0
               for name, param in tuned.named_parameters())  # fmt: skip

    again = torchrun(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from checkpoint-8" in again.stdout
    assert read_jsonl(out / "loss.jsonl", LossPoint) == points
    rerun = json.loads((out / "train.json").read_text())
    assert rerun["steps"] == 8 and rerun["train_loss"] == summary["train_loss"]  # nothing retrained

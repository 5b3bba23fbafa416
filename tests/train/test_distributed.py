"""`dta train` under torchrun and accelerate launch: two CPU processes (gloo DDP), tiny student.

Every rank trains; rank 0 alone writes. The run must leave one loss.jsonl without a repeated
step, one adapter that loads, a falling loss, and a rerun must resume without adding points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dta_edge.records import LossPoint
from dta_edge.storage import read_jsonl

from ..conftest import REPO, free_port
from .conftest import recipe


def launch(launcher: str, *args: str) -> subprocess.CompletedProcess:
    """`dta ARGS` as two CPU processes, started by torchrun or by accelerate launch.

    accelerate's CPU mode starts one process; its --multi_gpu launcher (torchrun underneath)
    starts two that fall back to gloo when no GPU is visible, which is the path GPUs take.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "NO_COLOR": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    if launcher == "torchrun":
        start = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                 "--standalone"]  # fmt: skip
    else:
        start = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                 "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                 "--dynamo_backend", "no", "--main_process_port", str(free_port())]  # fmt: skip
    return subprocess.run([*start, "-m", "dta_edge", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_two_process_ddp_writes_once_and_resumes(tmp_path, sft_file, tiny_model_dir):
    out = tmp_path / "out"
    spec = recipe(tmp_path, epochs=2, batch_size=4, logging_steps=1, save_steps=2)
    args = ("train", "--recipe", spec, "--data", str(sft_file), "--out", str(out))
    result = launch("torchrun", *args)
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

    again = launch("accelerate", *args)  # the other launcher resumes the same run
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from checkpoint-8" in again.stdout
    assert read_jsonl(out / "loss.jsonl", LossPoint) == points
    rerun = json.loads((out / "train.json").read_text())
    assert rerun["steps"] == 8 and rerun["train_loss"] == summary["train_loss"]  # nothing retrained

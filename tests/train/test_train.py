"""dta train on the tiny student: assistant-only loss, loss files, resume, full fine-tune."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dta_edge.curation.nll import TransformersNll
from dta_edge.records import ChatMessage, LossPoint, SFTExample
from dta_edge.storage import read_jsonl
from dta_edge.train.sft import to_prompt_completion

from ..conftest import REPO, run_dta
from .conftest import recipe


def test_prompt_completion_matches_the_nll_scorer(tiny_model_dir):
    from transformers import AutoTokenizer

    template = AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    turns = (ChatMessage(role="user", content="Q?"), ChatMessage(role="assistant", content="A."))
    example = SFTExample(id="e", problem_id="p", set_name="dta", messages=turns)
    (row,) = to_prompt_completion([example], template)
    assert row["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert row["completion"] == "A.<|im_end|>"


@pytest.mark.slow
def test_loss_is_on_assistant_tokens_only(tmp_path, sft_file, tiny_model_dir):
    """With a vanishing learning rate the held-out loss is the base model's NLL on the
    assistant tokens alone, which the Phase II scorer measures independently."""
    from transformers import AutoTokenizer

    out = tmp_path / "out"
    spec = recipe(tmp_path, learning_rate="1.0e-12", epochs=1, batch_size=64)
    result = run_dta("train", "--recipe", spec, "--data", str(sft_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "train.json").read_text())
    examples = read_jsonl(sft_file, SFTExample)
    import random

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = to_prompt_completion(examples, tokenizer.chat_template)
    random.Random(0).shuffle(rows)  # the split train() makes with seed 0
    held_out = rows[: summary["eval_examples"]]
    by_text = {e.messages[-1].content + "<|im_end|>": e for e in examples}
    turns = [by_text[r["completion"]].messages for r in held_out]
    pairs = [(user.content, answer.content) for user, answer in turns]
    nll = TransformersNll(str(tiny_model_dir), "cpu").nll_per_token(pairs)
    counts = [len(tokenizer.encode(r["completion"], add_special_tokens=False)) for r in held_out]
    expected = sum(n * c for n, c in zip(nll, counts, strict=True)) / sum(counts)
    assert summary["eval_loss"] == pytest.approx(expected, rel=2e-3)


@pytest.mark.slow
def test_training_lowers_held_out_loss_and_writes_its_files(tmp_path, sft_file):
    out = tmp_path / "out"
    result = run_dta("train", "--recipe", recipe(tmp_path), "--data", str(sft_file),
                     "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    points = read_jsonl(out / "loss.jsonl", LossPoint)
    evals = [p.loss for p in sorted(points, key=lambda p: p.step) if p.split == "eval"]
    assert evals[-1] < evals[0]
    assert (out / "adapter" / "adapter_config.json").exists()
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "train.json").read_text())
    assert summary["tokens_per_s"] > 0 and summary["device"] == "cpu"


@pytest.mark.slow
def test_sigkill_then_resume_from_the_last_checkpoint(tmp_path, sft_file):
    out = tmp_path / "out"
    spec = recipe(tmp_path, epochs=6, save_steps=3)
    command = [sys.executable, "-m", "dta_edge", "train", "--recipe", spec, "--data",
               str(sft_file), "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (out / "checkpoints" / "checkpoint-6").exists():
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "train.json").exists(), "finished before the kill"
    result = run_dta("train", "--recipe", spec, "--data", str(sft_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "train.json").read_text())
    assert summary["resumed_from"] and "checkpoint-" in summary["resumed_from"]
    assert summary["steps"] == 6 * 4  # 30 train examples, batch 8: 4 steps per epoch
    keys = [p.key for p in read_jsonl(out / "loss.jsonl", LossPoint)]
    assert len(keys) == len(set(keys))


@pytest.mark.slow
def test_full_fine_tune_and_bad_data(tmp_path, sft_file):
    out = tmp_path / "full"
    result = run_dta("train", "--recipe", recipe(tmp_path, epochs=1), "--data", str(sft_file),
                     "--out", str(out), "--full")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / "model" / "config.json").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "problem_id": "p", "set_name": "dta"}\n')
    result = run_dta("train", "--recipe", recipe(tmp_path), "--data", str(bad), "--out",
                     str(tmp_path / "bad-run"))  # fmt: skip
    assert result.returncode == 2 and "bad.jsonl:1" in result.stderr and "messages" in result.stderr
    # the same bad data into the finished run's folder: refused before the folder is touched
    result = run_dta("train", "--recipe", recipe(tmp_path), "--data", str(bad), "--out", str(out))
    assert result.returncode == 2 and "bad.jsonl:1" in result.stderr
    # good data of another config into it: that folder's other config is named
    result = run_dta("train", "--recipe", recipe(tmp_path), "--data", str(sft_file), "--out",
                     str(out))  # fmt: skip
    assert result.returncode == 2 and "holds a run of another config" in result.stderr
    assert (out / "model" / "config.json").exists()  # nothing of the finished run lost


@pytest.mark.slow
def test_qlora_without_a_gpu_is_refused_with_the_fix(tmp_path, sft_file):
    spec = recipe(tmp_path, quantization="4bit")
    result = run_dta("train", "--recipe", spec, "--data", str(sft_file),
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2
    assert "needs a CUDA GPU and bitsandbytes" in result.stderr
    assert "Traceback" not in result.stderr

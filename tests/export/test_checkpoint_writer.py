"""The streamed checkpoint writer: shards, index and config that transformers loads as it saved."""

from __future__ import annotations

import json

import pytest
import torch

from dta_edge.export.checkpoint_writer import write_checkpoint
from dta_edge.models.weights import CheckpointWeights


@pytest.mark.parametrize(("dtype", "tolerance"), [(None, 0.0), ("bfloat16", 0.1)])
def test_a_sharded_copy_loads_as_the_original(tiny_model_dir, tmp_path, dtype, tolerance):
    from transformers import AutoModelForCausalLM

    out = write_checkpoint(CheckpointWeights(tiny_model_dir), tmp_path / "copy", dtype,
                           shard_bytes=1 << 20)  # fmt: skip
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and all((out / name).is_file() for name in shards)
    assert json.loads((out / "config.json").read_text())["dtype"] == (dtype or "float32")
    assert (out / "tokenizer.json").is_file()
    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    copy = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, 9, 200, 31, 7]])
    with torch.no_grad():
        diff = (original(ids).logits - copy(ids).logits).abs().max().item()
    assert diff <= tolerance
    assert not list(tmp_path.glob(".copy.partial"))

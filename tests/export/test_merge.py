"""LoRA merge: the merged model computes what base + adapter computes; bad adapters fail."""

import json
import shutil

import pytest

from dta_edge.errors import ExportError
from dta_edge.export.merge import merge_adapter, merge_parity
from dta_edge.tasks.generator import ProblemsConfig, generate_problems


def test_merge_parity_within_1e_4(tiny_model_dir, lora_adapter, tmp_path, artifacts_dir):
    import torch
    from transformers import AutoModelForCausalLM

    merged = merge_adapter(tiny_model_dir, lora_adapter, tmp_path / "merged")
    for name in ("model.safetensors", "tokenizer.json", "chat_template.jinja", "config.json"):
        assert (merged / name).exists(), name
    assert not any(p.name.startswith(".merged.") for p in tmp_path.iterdir())  # no staging left
    texts = [
        p.question + "\n" + p.solution for p in generate_problems(ProblemsConfig(n=20, seed=3))
    ]
    checked = merge_parity(tiny_model_dir, lora_adapter, merged, texts)
    worst = checked.max_abs_logit_diff
    (artifacts_dir / "merge_parity.json").write_text(json.dumps({"max_abs_logit_diff": worst}))
    print(f"\nmerge parity: max |logit diff| = {worst:.3e}")
    assert worst <= 1e-4
    assert checked.top1_agreement == 1.0 and checked.max_abs_logit > 1.0
    # The adapter was not a no-op: merged weights differ from the base.
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tuned = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
    delta = (
        base.model.layers[0].self_attn.q_proj.weight - tuned.model.layers[0].self_attn.q_proj.weight
    )
    assert delta.abs().max().item() > 1e-3


def test_adapter_for_another_base_is_refused(tiny_model_dir, lora_adapter, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(lora_adapter, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["target_modules"] = ["c_attn", "c_proj"]  # GPT-2 module names
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=r"target modules \['c_attn', 'c_proj'\] do not exist"):
        merge_adapter(tiny_model_dir, adapter, tmp_path / "merged")
    with pytest.raises(ExportError, match="not a peft adapter folder"):
        merge_adapter(tiny_model_dir, tmp_path, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()

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


def test_the_merge_check_hands_the_export_transformers_own_reference(tiny_model_dir, lora_adapter):
    """The merged side of the check is the merged model: its argmax is what a whole load gives."""
    from dta_edge.export.formats import parity_texts
    from dta_edge.export.lora_merge import merged_weights
    from dta_edge.export.streamed_reference import parity_ids, reference_argmax, streamed_argmax
    from dta_edge.models.hf_load import load_tokenizer

    merged = merged_weights(tiny_model_dir, lora_adapter)
    texts = parity_texts(3)
    checked = merge_parity(tiny_model_dir, lora_adapter, merged, texts, max_positions=24)
    ids = parity_ids(load_tokenizer(tiny_model_dir), texts, 24)
    assert [list(t) for t in checked.token_ids] == ids and all(len(t) == 24 for t in ids)
    whole = reference_argmax(merged, ids)  # the tiny model fits: transformers' whole forward
    assert [list(best) for best in checked.merged_argmax] == whole
    assert streamed_argmax(merged, ids) == whole  # pooled layers give the same as fresh ones
    assert reference_argmax(merged, ids, known=checked.known_argmax()) == whole


def test_an_adapter_export_streams_the_reference_layers_once(
    tiny_model_dir, lora_adapter, tmp_path, monkeypatch
):
    """GGUF parity after a merge check reuses its argmax; no second reference pass runs."""
    from dta_edge.config import load_config
    from dta_edge.export import streamed_reference
    from dta_edge.export.runner import export_model
    from dta_edge.export.targets import ExportTarget

    from ..conftest import REPO

    def refuse(*_args, **_kwargs):
        raise AssertionError("a second reference pass ran")

    monkeypatch.setattr(streamed_reference, "whole_model", refuse)
    monkeypatch.setattr(streamed_reference, "streamed_argmax", refuse)
    target = load_config(REPO / "export" / "cpu-gguf-q8_0.yaml", ExportTarget)
    manifest = export_model(target, tiny_model_dir, tmp_path / "out", lora_adapter, parity="quick")
    assert manifest.parity["merge_top1_agreement"] == 1.0
    assert manifest.parity["top1_agreement"] >= 0.97  # as the subprocess test measures it

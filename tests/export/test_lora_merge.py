"""The streamed merge equals peft's merge_and_unload, tensor by tensor, for every adapter kind
peft writes (plain, rsLoRA, patterns, all-linear, embeddings, modules_to_save on a tied head)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dta_edge.errors import ExportError
from dta_edge.export.lora_merge import merged_weights

CASES = {
    "q-v": {"target_modules": ["q_proj", "v_proj"]},
    "rslora-all-linear": {"target_modules": "all-linear", "use_rslora": True},
    "patterns": {"target_modules": ["q_proj", "k_proj"], "rank_pattern": {"k_proj": 2},
                 "alpha_pattern": {"k_proj": 16}},
    "embeddings": {"target_modules": ["embed_tokens", "q_proj"]},
    "modules-to-save-head": {"target_modules": ["q_proj"], "modules_to_save": ["lm_head"]},
    "lora-on-tied-head": {"target_modules": ["lm_head", "o_proj"]},
}  # fmt: skip


def _adapter(base_dir, folder, settings):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, **settings)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():  # a trained head differs from the embeddings it was copied from
        for name, parameter in peft_model.named_parameters():
            if "modules_to_save" in name:
                parameter.add_(torch.randn_like(parameter) * 0.05)
    peft_model.save_pretrained(folder)
    return folder


def _peft_merge(base_dir, adapter_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    return PeftModel.from_pretrained(base, adapter_dir).merge_and_unload().eval()


@pytest.mark.parametrize("case", list(CASES))
def test_the_streamed_merge_equals_peft(tiny_model_dir, tmp_path, case):
    import torch

    from dta_edge.export.streamed_reference import whole_model

    adapter = _adapter(tiny_model_dir, tmp_path / case, CASES[case])
    reference = _peft_merge(tiny_model_dir, adapter)
    ours = merged_weights(tiny_model_dir, adapter)
    params = dict(reference.named_parameters(remove_duplicate=False))
    for entry in ours.entries():
        expected = params[entry.name].detach().numpy()
        assert np.abs(ours.float32(entry.name) - expected).max() <= 1e-5, entry.name
    assert ours.reference_diffs and max(ours.reference_diffs.values()) <= 1e-5
    if case == "modules-to-save-head":  # the trained head is not the embedding matrix
        assert ours.untied and not ours.config()["tie_word_embeddings"]
        head = reference.lm_head.weight.detach().numpy()
        assert np.abs(ours.float32("lm_head.weight") - head).max() <= 1e-6
    ids = torch.tensor([[1, 5, 9, 200, 31, 7]])
    with torch.no_grad():
        diff = (whole_model(ours)(ids).logits - reference(ids).logits).abs().max().item()
    assert diff <= 1e-4


def test_a_bf16_base_is_merged_in_fp32_and_stored_in_bf16(tmp_path):
    """The merge runs in float32 and rounds once, to the base's own dtype."""
    from dta_edge.models.bf16 import bf16_to_float32
    from dta_edge_testing.random_checkpoint import SHAPES, build_random_checkpoint

    del SHAPES, build_random_checkpoint  # the random builder is exercised by the 8B benchmark
    base = tmp_path / "base"
    base.mkdir()
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((8, 6), dtype=np.float32)
    _write_safetensors(base / "model.safetensors", {"model.layers.0.mlp.up_proj.weight":
                                                    ("BF16", _bf16(weight))})  # fmt: skip
    (base / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    a = rng.standard_normal((2, 6), dtype=np.float32)
    b = rng.standard_normal((8, 2), dtype=np.float32)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    key = "base_model.model.model.layers.0.mlp.up_proj"
    _write_safetensors(
        adapter / "adapter_model.safetensors",
        {f"{key}.lora_A.weight": ("F32", a), f"{key}.lora_B.weight": ("F32", b)},
    )
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 2, "lora_alpha": 4}))
    merged = merged_weights(base, adapter)
    name = "model.layers.0.mlp.up_proj.weight"
    words = merged.raw(name)
    assert words.dtype == np.uint16
    expected = bf16_to_float32(_bf16(weight)) + 2.0 * (b @ a)
    assert np.abs(bf16_to_float32(words) - expected).max() <= np.abs(expected).max() * 2**-8
    assert merged.reference_diffs[name] <= np.abs(expected).max() * 2**-8


def _bf16(values):
    from dta_edge.models.bf16 import float32_to_bf16

    return float32_to_bf16(values)


def _write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, array) in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + b"".join(blobs))


@pytest.mark.parametrize(
    ("change", "needle"),
    [("dora", "DoRA"), ("ia3", "peft_type IA3"), ("pickle", "convert it to safetensors"),
     ("other base", "another base")],
)  # fmt: skip
def test_what_is_not_merged_is_refused_before_any_weight(tiny_model_dir, tmp_path, change, needle):
    adapter = _adapter(tiny_model_dir, tmp_path / "adapter", CASES["q-v"])
    config = json.loads((adapter / "adapter_config.json").read_text())
    if change == "dora":
        config["use_dora"] = True
    elif change == "ia3":
        config["peft_type"] = "IA3"
    elif change == "pickle":
        (adapter / "adapter_model.safetensors").rename(adapter / "adapter_model.bin")
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    base = tiny_model_dir
    if change == "other base":  # a base whose q_proj is another shape
        base = tmp_path / "other"
        shutil.copytree(tiny_model_dir, base)
        from safetensors.numpy import load_file, save_file

        tensors = load_file(base / "model.safetensors")
        name = "model.layers.0.self_attn.q_proj.weight"
        tensors[name] = np.zeros((tensors[name].shape[0], 7), dtype=tensors[name].dtype)
        save_file(tensors, base / "model.safetensors")
    with pytest.raises(ExportError, match=needle):
        merged_weights(base, adapter)

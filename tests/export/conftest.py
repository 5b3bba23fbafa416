"""Fixtures shared by the export tests."""

import pytest


@pytest.fixture(scope="session")
def lora_adapter(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter on the tiny model with non-zero B, so the merge really changes weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        peft_model = get_peft_model(model, config)
    out = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(out)
    return out

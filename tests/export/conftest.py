"""Fixtures shared by the export tests."""

import pytest

# Greedy-parity prompts shared by the GGUF and ONNX tests.
PROMPTS = [
    "What is the received power in dBm?",
    "A 2400 MHz radio link spans 3.2 km in free space. What is the free-space path loss in dB?",
    "An M/M/1 queue has arrival rate 40 packets/s and service rate 50 packets/s.",
    "Step 1:",
    "The capacity of a 20 MHz channel",
]


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

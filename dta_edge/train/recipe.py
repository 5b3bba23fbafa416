"""Training recipes (curation/train-<name>.yaml): the base model, LoRA and optimiser settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dta_edge.config import FrozenModel


class LoraSpec(FrozenModel):
    """LoRA adapter shape."""

    rank: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    )  # fmt: skip


class TrainRecipe(FrozenModel):
    """`dta train --recipe`: how to fine-tune the student on an SFT set."""

    kind: Literal["train-recipe"] = "train-recipe"
    name: str
    description: str = ""
    base_model: str = Field(description="transformers folder, hub id, or embedded:tiny.")
    lora: LoraSpec = LoraSpec()
    learning_rate: float = Field(default=2e-4, gt=0)
    epochs: float = Field(default=3.0, gt=0)
    batch_size: int = Field(default=8, ge=1, description="Per device.")
    gradient_accumulation: int = Field(default=1, ge=1)
    max_length: int = Field(default=1024, ge=16, description="Tokens per example (truncated).")
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    eval_fraction: float = Field(default=0.1, ge=0, lt=1, description="Held out for eval loss.")
    logging_steps: int = Field(default=5, ge=1)
    save_steps: int = Field(default=50, ge=1, description="Checkpoint interval (resume point).")
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="auto: bf16 on a GPU that supports it, fp32 on the CPU."
    )
    quantization: Literal["none", "4bit"] = Field(
        default="none",
        description="4bit: QLoRA, the frozen base loaded in 4-bit NF4 by bitsandbytes (CUDA "
        "only; `pip install bitsandbytes`), so a 32B base trains on one 80 GB GPU.",
    )
    gradient_checkpointing: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto: on for GPUs, off on the CPU (it only costs time there)."
    )

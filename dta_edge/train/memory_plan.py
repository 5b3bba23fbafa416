"""How much memory a training run will need, said before it starts, and whether it fits.

A plan is the sum of what training keeps: the weights in their dtype (or 4-bit for QLoRA), the
trainable parameters' gradients and AdamW's two moments, and the activations one step keeps for
the backward pass (per layer and token from the model's shapes; only the layer inputs with
gradient checkpointing), plus the logits the loss is computed from. A plan that cannot fit the
device it will run on is refused before the model is loaded, naming the recipe fields that
would make it fit.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import DataError

MIB = 2**20
FIT_SHARE = 0.92  # of a device's memory a plan may take (the runtime and allocator keep the rest)


class MemoryPlan(FrozenModel):
    """Estimated memory of one training run, by component (MiB), and the device it must fit."""

    weights_mib: float = Field(description="The model's weights as loaded.")
    trainable_mib: float = Field(description="LoRA parameters (a full fine-tune: none extra).")
    gradients_mib: float
    optimizer_mib: float = Field(description="AdamW's two moments per trainable parameter.")
    activations_mib: float = Field(description="What one step keeps for backward, logits too.")
    total_mib: float
    device: str
    capacity_mib: float | None = Field(description="The device's memory (None: not known).")
    fits: bool
    advice: tuple[str, ...] = ()


def _layer_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or hidden // heads
    kv = (config.get("num_key_value_heads") or heads) * head_dim
    inter = config["intermediate_size"]
    return {"q_proj": (heads * head_dim, hidden), "k_proj": (kv, hidden), "v_proj": (kv, hidden),
            "o_proj": (hidden, heads * head_dim), "gate_proj": (inter, hidden),
            "up_proj": (inter, hidden), "down_proj": (hidden, inter)}  # fmt: skip


def _parameters(model_dir: Path) -> tuple[int, int]:
    """(all parameters, those in 2-D decoder matrices) from the safetensors headers."""
    from dta_edge.models.weights import CheckpointWeights

    total = matrices = 0
    for entry in CheckpointWeights(model_dir).entries():
        count = math.prod(entry.shape)
        total += count
        if len(entry.shape) == 2 and ".layers." in entry.name:
            matrices += count
    return total, matrices


def _activations(config: dict[str, Any], tokens: int, seq: int, width: int, ckpt: bool) -> float:
    """Bytes the forward keeps for backward: per layer and token, from the layer's shapes."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    shapes = _layer_shapes(config)
    inter = config["intermediate_size"]
    heads = config["num_attention_heads"]
    # norms, projection inputs and outputs, attention output, MLP gate/up/act/product
    per_token = 6 * hidden + shapes["q_proj"][0] + 2 * shapes["k_proj"][0] + 4 * inter
    per_token += heads * seq  # attention probabilities (the math path materialises them)
    if ckpt:  # only each layer's input stays; one layer is recomputed at a time
        kept = tokens * (layers * hidden + per_token) * width
    else:
        kept = tokens * layers * per_token * width
    logits = tokens * config["vocab_size"] * 4 * 3  # fp32 logits, log-softmax and their gradient
    return kept + logits


def capacity_mib(device: str) -> float | None:
    """Memory of the device training runs on: one GPU's, or the RAM available now."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_properties(0).total_memory / MIB
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MIB
    except (ValueError, OSError, AttributeError):
        return None


def plan_memory(
    config: dict[str, Any], model_dir: Path, recipe: Any, *, full: bool, bf16: bool,
    checkpointing: bool, device: str, capacity: float | None = None,
) -> MemoryPlan:  # fmt: skip
    """The memory plan of ``recipe`` on ``model_dir``, and whether it fits ``device``.

    ``capacity`` (MiB) overrides the device's measured memory (tests, planning for another
    machine).
    """
    width = 2 if bf16 else 4
    total, matrices = _parameters(model_dir)
    if recipe.quantization == "4bit":  # NF4 matrices (plus scales); the rest in bf16
        weights = matrices * 0.55 + (total - matrices) * 2
    else:
        weights = total * width
    if full:
        trainable, trainable_bytes = total, width
        extra = 0.0
    else:
        shapes = _layer_shapes(config)
        per_layer = sum(recipe.lora.rank * (rows + cols)
                        for name, (rows, cols) in shapes.items()
                        if name in recipe.lora.target_modules)  # fmt: skip
        trainable, trainable_bytes = per_layer * config["num_hidden_layers"], 4
        extra = trainable * trainable_bytes
    tokens = recipe.batch_size * recipe.max_length
    activations = _activations(config, tokens, recipe.max_length, width, checkpointing)
    gradients = trainable * trainable_bytes
    optimizer = 2 * trainable * trainable_bytes
    total_bytes = weights + extra + gradients + optimizer + activations
    capacity = capacity if capacity is not None else capacity_mib(device)
    fits = capacity is None or total_bytes / MIB <= FIT_SHARE * capacity
    return MemoryPlan(
        weights_mib=round(weights / MIB, 1), trainable_mib=round(extra / MIB, 1),
        gradients_mib=round(gradients / MIB, 1), optimizer_mib=round(optimizer / MIB, 1),
        activations_mib=round(activations / MIB, 1), total_mib=round(total_bytes / MIB, 1),
        device=device, capacity_mib=None if capacity is None else round(capacity, 1), fits=fits,
        advice=() if fits else _advice(recipe, full, checkpointing),
    )  # fmt: skip


def _advice(recipe: Any, full: bool, checkpointing: bool) -> tuple[str, ...]:
    """The recipe fields that shrink a plan, biggest saving first."""
    advice = []
    if full:
        advice.append("LoRA instead of a full fine-tune (drop --full)")
    if recipe.quantization != "4bit":
        advice.append("quantization: 4bit (QLoRA: the frozen base in 4-bit, CUDA)")
    if not checkpointing:
        advice.append("gradient_checkpointing: on")
    if recipe.batch_size > 1:
        advice.append(f"batch_size: {max(1, recipe.batch_size // 2)} with gradient_accumulation: "
                      f"{recipe.gradient_accumulation * 2} (same effective batch)")  # fmt: skip
    advice.append(f"max_length below {recipe.max_length}")
    return tuple(advice)


def refuse_unless_fits(plan: MemoryPlan, recipe_name: str) -> None:
    """Raise when the plan cannot fit its device, naming what would make it fit.

    Raises:
        DataError: the plan's total is past the device's memory.
    """
    if plan.fits:
        return
    raise DataError(
        f"recipe {recipe_name}: the plan needs about {plan.total_mib / 1024:.1f} GiB "
        f"(weights {plan.weights_mib / 1024:.1f}, optimizer {plan.optimizer_mib / 1024:.1f}, "
        f"activations {plan.activations_mib / 1024:.1f}) and {plan.device} has "
        f"{(plan.capacity_mib or 0) / 1024:.1f} GiB; to fit: " + "; ".join(plan.advice)
    )

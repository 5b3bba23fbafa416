"""Transformers' own argmax for a checkpoint too big to load, computed one layer at a time.

Parity compares an export with transformers in float32. An 8B checkpoint in float32 is 32 GB,
more than a 24 GiB machine holds, and loading it is what killed the export before. Here the
model is built on the meta device, and each decoder layer in turn is materialised from the
safetensors shards, run over every text's hidden states, and dropped. The layers are
transformers' own modules (same attention, rotary embedding and norms as a full load), so the
result equals the whole-model forward pass; peak memory is one layer in float32 plus the
embedding rows the texts use, and the output matrix is read in slices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from dta_edge.models.bf16 import bf16_to_float32
from dta_edge.models.weights import Weights, as_weights
from dta_edge.models.weights import float32_bytes as weights_float32_bytes

_OUTPUT_ROWS = 16384  # rows of the output matrix widened to float32 at a time


def float32_bytes(source: Path | Weights) -> int:
    """Bytes the checkpoint takes once loaded in float32 (what a whole-model reference needs)."""
    return weights_float32_bytes(as_weights(source))


def load_module(module, prefix: str, weights: Weights) -> None:
    """Materialise ``module`` on the CPU with the float32 weights stored under ``prefix``."""
    import torch

    module.to_empty(device="cpu")
    names = [name for name, _ in module.named_parameters()]
    state = {name: torch.from_numpy(weights.float32(prefix + name).copy())
             for name in names}  # fmt: skip
    module.load_state_dict(state, strict=False, assign=True)
    for name, buffer in module.named_buffers():
        if buffer.is_meta:  # non-persistent buffers (none in these decoder layers) stay unset
            raise RuntimeError(f"{prefix}{name}: buffer left on the meta device")


def embed_rows(weights: Weights, ids: list[int]):  # -> float32 tensor [len(ids), hidden]
    """Only the embedding rows these ids use, widened from the stored type."""
    import numpy as np
    import torch

    table = weights.raw("model.embed_tokens.weight")
    rows = table[np.asarray(ids)]
    if table.dtype == np.uint16:  # bf16 words
        rows = bf16_to_float32(rows)
    return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))


def _argmax_over_output(weights: Weights, hidden, tied: bool):  # -> int64 tensor [positions]
    """Argmax of hidden @ W.T with W read in row slices, never whole in float32."""
    import numpy as np
    import torch

    table = weights.raw("model.embed_tokens.weight" if tied else "lm_head.weight")
    best = torch.full((hidden.shape[0],), -math.inf)
    best_id = torch.zeros(hidden.shape[0], dtype=torch.long)
    for start in range(0, table.shape[0], _OUTPUT_ROWS):
        block = table[start : start + _OUTPUT_ROWS]
        if block.dtype == np.uint16:  # bf16 words
            block = bf16_to_float32(block)
        logits = hidden @ torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32)).T
        values, index = logits.max(dim=-1)
        better = values > best  # ties keep the lower id, as torch.argmax does
        best = torch.where(better, values, best)
        best_id = torch.where(better, index + start, best_id)
    return best_id


def hf_config(weights: Weights):  # -> transformers config
    """The transformers config of these weights (the folder's, with the weights' own changes)."""
    from dta_edge.models.hf_load import load_config

    config = load_config(weights.folder)
    config.tie_word_embeddings = bool(weights.config().get("tie_word_embeddings", False))
    return config


def streamed_argmax(
    source: Path | Weights, id_lists: Sequence[Sequence[int]], on_layer=None
) -> list[list[int]]:
    """Per text, transformers' float32 argmax at every position, computed layer by layer."""
    import torch
    from transformers.masking_utils import create_causal_mask

    from dta_edge.models.hf_load import causal_lm_from_config

    weights = as_weights(source)
    config = hf_config(weights)
    with torch.device("meta"):
        model = causal_lm_from_config(config, dtype=torch.float32)
    inner = model.model
    rotary = type(inner.rotary_emb)(config=config)
    hidden = [embed_rows(weights, list(ids)).unsqueeze(0) for ids in id_lists]
    positions = [torch.arange(h.shape[1]).unsqueeze(0) for h in hidden]
    with torch.no_grad():
        rope = [rotary(h, p) for h, p in zip(hidden, positions, strict=True)]
        masks = [create_causal_mask(config=config, inputs_embeds=h, attention_mask=None,
                                    cache=None, position_ids=p)
                 for h, p in zip(hidden, positions, strict=True)]  # fmt: skip
        for index, layer in enumerate(inner.layers):
            load_module(layer, f"model.layers.{index}.", weights)
            steps = zip(hidden, masks, rope, positions, strict=True)
            hidden = [layer(h, attention_mask=m, position_embeddings=r, position_ids=p)
                      for h, m, r, p in steps]  # fmt: skip
            hidden = [h[0] if isinstance(h, tuple) else h for h in hidden]
            layer.to("meta")
            if on_layer is not None:
                on_layer(index + 1, len(inner.layers))
        load_module(inner.norm, "model.norm.", weights)
        tied = bool(getattr(config, "tie_word_embeddings", False))
        return [_argmax_over_output(weights, inner.norm(h)[0], tied).tolist() for h in hidden]


def whole_model(source: Path | Weights):  # -> transformers model, float32, eval mode
    """The whole model in float32: loaded from its folder, or built from weights read one by one."""
    import torch

    from dta_edge.models.hf_load import causal_lm_from_config, load_causal_lm

    if isinstance(source, Path):
        return load_causal_lm(source, dtype=torch.float32).eval()
    model = causal_lm_from_config(hf_config(source), dtype=torch.float32)
    state = {entry.name: torch.from_numpy(source.float32(entry.name).copy())
             for entry in source.entries()}  # fmt: skip
    model.load_state_dict(state, strict=False)
    if model.config.tie_word_embeddings:
        model.tie_weights()
    return model.eval()


def reference_argmax(
    source: Path | Weights, id_lists: Sequence[Sequence[int]], on_layer=None
) -> list[list[int]]:
    """Transformers' float32 argmax per position: the whole model when it fits, else streamed.

    "Fits" means its float32 weights take under a quarter of physical memory, which leaves room
    for llama.cpp's copy and the activations beside it.
    """
    if float32_bytes(source) > _physical_memory() // 4:
        return streamed_argmax(source, id_lists, on_layer)
    import torch

    model = whole_model(source)
    with torch.no_grad():
        return [model(torch.tensor([list(ids)])).logits[0].argmax(-1).tolist()
                for ids in id_lists]  # fmt: skip


def _physical_memory() -> int:
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30

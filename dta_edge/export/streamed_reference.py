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
from collections.abc import Mapping, Sequence
from pathlib import Path

from dta_edge.errors import ExportError
from dta_edge.models.bf16 import bf16_to_float32
from dta_edge.models.weights import Weights, as_weights
from dta_edge.models.weights import float32_bytes as weights_float32_bytes

_OUTPUT_ROWS = 16384  # rows of the output matrix widened to float32 at a time


def float32_bytes(source: Path | Weights) -> int:
    """Bytes the checkpoint takes once loaded in float32 (what a whole-model reference needs)."""
    return weights_float32_bytes(as_weights(source))


class ParameterPool:
    """Float32 parameter storage reused from one decoder layer to the next.

    Every decoder layer has the same parameter shapes, and each is dropped before the next is
    loaded. Widening each layer into the previous layer's arrays, instead of fresh ones, spares
    the kernel faulting in and zeroing about 0.8 GB per 8B layer on every pass. One pool per
    stream: two layers alive at once (peft's and the merged one) each need their own.
    """

    def __init__(self) -> None:
        self._tensors: dict[tuple[str, tuple[int, ...]], object] = {}

    def tensor(self, name: str, shape: tuple[int, ...]):  # -> float32 tensor
        """The pooled float32 tensor for parameter ``name`` of this shape (made the first time)."""
        import torch

        key = (name, tuple(shape))
        if key not in self._tensors:
            self._tensors[key] = torch.empty(shape, dtype=torch.float32)
        return self._tensors[key]


def fill_float32(out, weights: Weights, name: str) -> None:
    """Write tensor ``name`` of ``weights``, widened to float32, into the numpy array ``out``."""
    stored = weights.raw(name)
    if tuple(stored.shape) != tuple(out.shape):
        raise ExportError(f"{weights.folder}: tensor '{name}' has shape {tuple(stored.shape)}, "
                          f"the model expects {tuple(out.shape)}")  # fmt: skip
    _widen_into(out, stored)


def _widen_into(out, stored) -> None:
    """``stored`` (bf16 words or any float type) in float32, written into the array ``out``."""
    import numpy as np

    if stored.dtype == np.uint16:  # bf16 words
        bf16_to_float32(stored, out=out)
    else:
        np.copyto(out, stored)


def load_module(module, prefix: str, weights: Weights, pool: ParameterPool | None = None) -> None:
    """Materialise ``module`` on the CPU with the float32 weights stored under ``prefix``.

    With a ``pool``, the parameters live in the pool's arrays (overwritten by the next module
    loaded from it); without one, in arrays of their own.
    """
    pool = pool or ParameterPool()
    state = {}
    for name, parameter in module.named_parameters():
        tensor = pool.tensor(name, tuple(parameter.shape))
        fill_float32(tensor.numpy(), weights, prefix + name)
        state[name] = tensor
    module.load_state_dict(state, strict=False, assign=True)
    for name, buffer in module.named_buffers():
        if buffer.is_meta:  # a buffer made at init (a per-layer rotary table) has no weights
            raise ExportError(f"{prefix}{name}: a buffer of this architecture's layers; "
                              "streamed parity loads weights only")  # fmt: skip


def embed_rows(weights: Weights, ids: list[int]):  # -> float32 tensor [len(ids), hidden]
    """Only the embedding rows these ids use, widened from the stored type."""
    import numpy as np
    import torch

    table = weights.raw("model.embed_tokens.weight")
    rows = table[np.asarray(ids)]
    if table.dtype == np.uint16:  # bf16 words
        rows = bf16_to_float32(rows)
    return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))


def widened_rows(table, start: int, rows: int, out=None):  # -> float32 tensor
    """Rows ``start:start+rows`` of a stored matrix in float32, in ``out``'s memory if it fits."""
    import torch

    block = table[start : start + rows]
    if out is None or out.shape[0] < block.shape[0] or out.shape[1:] != block.shape[1:]:
        out = torch.empty(block.shape, dtype=torch.float32)
    target = out[: block.shape[0]]
    _widen_into(target.numpy(), block)
    return target


def _argmax_over_output(weights: Weights, hidden, tied: bool):  # -> int64 tensor [positions]
    """Argmax of hidden @ W.T with W read in row slices, never whole in float32."""
    import torch

    table = weights.raw("model.embed_tokens.weight" if tied else "lm_head.weight")
    best = torch.full((hidden.shape[0],), -math.inf)
    best_id = torch.zeros(hidden.shape[0], dtype=torch.long)
    buffer = None
    for start in range(0, table.shape[0], _OUTPUT_ROWS):
        block = widened_rows(table, start, _OUTPUT_ROWS, buffer)
        buffer = block if buffer is None else buffer
        logits = hidden @ block.T
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


def text_batch(weights: Weights, config, rotary, id_lists: Sequence[Sequence[int]]):
    """(hidden, layer keyword arguments): every text's embeddings as one right-padded batch.

    One batch makes each decoder layer a few large matrix products instead of one small product
    per text (an 8B-shaped layer on 2 cores, 4 texts x 64 positions: 0.86 s batched, 1.12 s one
    text at a time). Right padding
    changes nothing a text's own positions compute: under the causal mask a position sees only
    the positions before it, all of them the text's own. The padding's outputs are dropped by
    :func:`real_positions`.
    """
    import torch
    from transformers.masking_utils import create_causal_mask

    length = max((len(ids) for ids in id_lists), default=0)
    padded = [list(ids) + [0] * (length - len(ids)) for ids in id_lists]
    every = [token for ids in padded for token in ids]  # the table is read once for all texts
    rows = embed_rows(weights, every)
    hidden = rows.reshape(len(padded), length, rows.shape[-1])
    positions = torch.arange(length).unsqueeze(0).expand(len(padded), -1)
    mask = create_causal_mask(config=config, inputs_embeds=hidden, attention_mask=None,
                              cache=None, position_ids=positions)  # fmt: skip
    return hidden, {"attention_mask": mask, "position_embeddings": rotary(hidden, positions),
                    "position_ids": positions}  # fmt: skip


def prefetch_next(weights: Weights, layer, index: int, count: int) -> None:
    """Start reading layer ``index + 1`` (the output head after the last) while ``index`` runs."""
    if index + 1 < count:
        prefix = f"model.layers.{index + 1}."
        weights.prefetch([prefix + name for name, _ in layer.named_parameters()])
    else:
        weights.prefetch(["model.norm.weight", "lm_head.weight", "model.embed_tokens.weight"])


def run_layer(layer, hidden, context: dict):  # -> hidden states
    """The batch through one decoder layer (some transformers versions return a tuple)."""
    out = layer(hidden, **context)
    return out[0] if isinstance(out, tuple) else out


def real_positions(hidden, id_lists: Sequence[Sequence[int]]):  # -> [positions, hidden size]
    """The texts' own positions of a padded batch, one text after another."""
    import torch

    return torch.cat([hidden[row, : len(ids)] for row, ids in enumerate(id_lists)])


def streamed_argmax(
    source: Path | Weights, id_lists: Sequence[Sequence[int]], on_layer=None
) -> list[list[int]]:
    """Per text, transformers' float32 argmax at every position, computed layer by layer."""
    import torch

    from dta_edge.models.hf_load import causal_lm_from_config

    weights = as_weights(source)
    config = hf_config(weights)
    with torch.device("meta"):
        model = causal_lm_from_config(config, dtype=torch.float32)
    inner = model.model
    with torch.no_grad():
        hidden, context = text_batch(weights, config, type(inner.rotary_emb)(config=config),
                                     id_lists)  # fmt: skip
        pool = ParameterPool()
        for index, layer in enumerate(inner.layers):
            load_module(layer, f"model.layers.{index}.", weights, pool)
            prefetch_next(weights, layer, index, len(inner.layers))
            hidden = run_layer(layer, hidden, context)
            layer.to("meta")
            if on_layer is not None:
                on_layer(index + 1, len(inner.layers))
        load_module(inner.norm, "model.norm.", weights)
        tied = bool(getattr(config, "tie_word_embeddings", False))
        every = real_positions(inner.norm(hidden), id_lists)  # the head is read once for all
        best = _argmax_over_output(weights, every, tied)
        return [part.tolist() for part in best.split([len(ids) for ids in id_lists])]


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


KnownArgmax = Mapping[tuple[int, ...], Sequence[int]]  # token ids -> the argmax already computed


def parity_ids(tokenizer, texts: Sequence[str], max_positions: int | None) -> list[list[int]]:
    """Each text's token ids as the model sees them (its own special tokens), cut for quick parity.

    Every parity pass tokenizes this way, so a reference computed by one (the merge check's
    merged side) is the reference of another (the export's), looked up by these ids.
    """
    return [tokenizer.encode(text)[:max_positions] for text in texts]


def reference_argmax(
    source: Path | Weights,
    id_lists: Sequence[Sequence[int]],
    on_layer=None,
    known: KnownArgmax | None = None,
) -> list[list[int]]:
    """Transformers' float32 argmax per position: known, the whole model when it fits, or streamed.

    ``known`` holds argmaxes another pass already computed on these weights (the merge check
    runs the merged model layer by layer and keeps its argmax), so the layers are not streamed
    a second time. "Fits" means its float32 weights take under a quarter of physical memory,
    which leaves room for llama.cpp's copy and the activations beside it.
    """
    known = known or {}
    if all(tuple(ids) in known for ids in id_lists):
        return [list(known[tuple(ids)]) for ids in id_lists]
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

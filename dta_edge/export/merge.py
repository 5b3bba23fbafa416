"""Merge a LoRA adapter into its base, and measure that the merge changed nothing.

Both run at any size. The merge is streamed (``export.lora_merge``): one tensor in memory,
written in the base's own dtype. The check runs base + adapter through peft's own LoRA layers,
unmerged, beside the merged weights, one decoder layer at a time. The two paths share the
embedding rows and meet again at the output head, where both sets of logits are computed in row
slices and compared. Two whole float32 models are never held at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dta_edge.errors import ExportError
from dta_edge.export.checkpoint_writer import FOLDER_FILES, write_checkpoint
from dta_edge.export.lora_merge import Adapter, MergedWeights, merged_weights
from dta_edge.export.streamed_reference import ParameterPool, load_module, widened_rows
from dta_edge.models.weights import CheckpointWeights, Weights

TOKENIZER_FILES = FOLDER_FILES  # the files a converted folder carries beside its weights
_HEAD_ROWS = 16384  # output-head rows widened to float32 at a time


def check_adapter_matches(model_dir: Path, adapter_dir: Path) -> None:
    """Refuse an adapter trained for another base, reading headers only (no weights).

    Raises:
        ExportError: not a mergeable LoRA adapter, or its tensors do not fit this base.
    """
    merged_weights(model_dir, adapter_dir)


def merge_adapter(model_dir: Path, adapter_dir: Path, out_dir: Path) -> Path:
    """Write base + adapter, merged, as a transformers folder in the base's dtype (streamed).

    Raises:
        ExportError: the adapter is missing, not LoRA, or for another base.
    """
    return write_checkpoint(merged_weights(model_dir, adapter_dir), out_dir)


def _lora_layer(
    layer, index: int, adapter: Adapter, lora_config, base: Weights, pool: ParameterPool
):
    """Decoder layer ``index`` with the base's weights and peft's own LoRA modules, unmerged."""
    import torch
    from peft import inject_adapter_in_model

    holder = torch.nn.Module()  # module names as in the whole model, so peft's patterns match
    holder.model = torch.nn.Module()
    holder.model.layers = torch.nn.ModuleDict({str(index): layer})
    load_module(layer, f"model.layers.{index}.", base, pool)
    inject_adapter_in_model(lora_config, holder)
    prefix = f"model.layers.{index}."
    state = {}
    for key, entry in adapter.entries.items():
        name = key.removeprefix("base_model.model.")
        if name.startswith(prefix) and ".lora_" in name:
            module, _, side = name.rpartition(".lora_")
            side = side.removesuffix(".weight")  # A, B, embedding_A, embedding_B
            state[f"{module}.lora_{side}.default.weight"] = torch.from_numpy(adapter.factor(entry))
        elif name.startswith(prefix) and ".base_layer." not in name:  # modules_to_save
            state[name] = torch.from_numpy(adapter.factor(entry))
    unknown = set(state) - {name for name, _ in holder.named_parameters()}
    if unknown:
        raise ExportError(f"{adapter.path}: tensors with no module in layer {index}: "
                          f"{sorted(unknown)[:3]}")  # fmt: skip
    holder.load_state_dict(state, strict=False)
    return layer.eval()


@dataclass(frozen=True)
class MergeParity:
    """How the merged model's logits compare with base + adapter, unmerged, on the same texts.

    ``max_abs_logit_diff`` alone misleads on deep random checkpoints: storing a merge in bf16
    rounds every changed weight (peft's ``merge_and_unload`` rounds the same way), and the
    rounding grows through the layers. The logits' own scale and the share of positions whose
    top token is unchanged say how much that difference matters.
    """

    max_abs_logit_diff: float
    top1_agreement: float
    max_abs_logit: float
    token_ids: tuple[tuple[int, ...], ...] = field(default=(), repr=False)  # per text, ids run
    merged_argmax: tuple[tuple[int, ...], ...] = field(default=(), repr=False)  # fp32, per text

    def known_argmax(self) -> dict[tuple[int, ...], list[int]]:
        """The merged model's argmax by token ids: the reference an export's parity needs."""
        return {ids: list(best) for ids, best in zip(self.token_ids, self.merged_argmax,
                                                     strict=True)}  # fmt: skip


def _head_compare(check: MergedWeights, merged: Weights, hidden_lora, hidden_merged):
    """(max |logit diff|, merged argmax per position, peft's argmax, max |logit|), in row slices.

    An output head the adapter leaves alone is one stored tensor on both sides: it is read and
    widened once per slice.
    """
    import torch

    adapter = check.adapter
    tied = bool(merged.config().get("tie_word_embeddings"))
    merged_name = "model.embed_tokens.weight" if tied else "lm_head.weight"
    merged_table = merged.raw(merged_name)
    head = "lm_head.weight"
    shared = merged_name == check._base_name(head) and not (
        check.changed(merged_name) or check.changed(head)
    )
    if shared:
        base_table = merged_table
    elif "lm_head.weight" in adapter.saved:  # modules_to_save: the trained copy
        base_table = adapter.factor(adapter.saved["lm_head.weight"])
    else:
        base_table = check.base.raw(check._base_name("lm_head.weight"))
    deltas = adapter.deltas.get("lm_head.weight", [])
    worst = scale = 0.0
    positions = hidden_merged.shape[0]
    best = {side: (torch.full((positions,), -math.inf), torch.zeros(positions, dtype=torch.long))
            for side in ("ours", "theirs")}  # fmt: skip
    buffers: dict[str, torch.Tensor | None] = {"ours": None, "theirs": None}
    for start in range(0, merged_table.shape[0], _HEAD_ROWS):
        ours_block = widened_rows(merged_table, start, _HEAD_ROWS, buffers["ours"])
        theirs_block = ours_block if shared else widened_rows(
            base_table, start, _HEAD_ROWS, buffers["theirs"])  # fmt: skip
        buffers = {side: block if buffers[side] is None else buffers[side]
                   for side, block in (("ours", ours_block), ("theirs", theirs_block))}  # fmt: skip
        ours = hidden_merged @ ours_block.T
        theirs = hidden_lora @ theirs_block.T
        for delta in deltas:
            a = torch.from_numpy(adapter.factor(delta.a))
            b = torch.from_numpy(adapter.factor(delta.b))[start : start + _HEAD_ROWS]
            theirs = theirs + delta.scale * (hidden_lora @ a.T) @ b.T
        worst = max(worst, float((ours - theirs).abs().max()))
        scale = max(scale, float(theirs.abs().max()))
        for side, logits in (("ours", ours), ("theirs", theirs)):
            values, indices = logits.max(dim=-1)
            kept, kept_index = best[side]
            better = values > kept
            best[side] = (torch.where(better, values, kept),
                          torch.where(better, indices + start, kept_index))  # fmt: skip
    return worst, best["ours"][1], best["theirs"][1], scale


def merge_parity(
    model_dir: Path,
    adapter_dir: Path,
    merged: Weights | Path,
    texts: Sequence[str],
    max_positions: int | None = None,
    on_layer=None,
) -> MergeParity:
    """Merged weights vs base + adapter (peft, unmerged), every logit compared in fp32.

    Args:
        model_dir: the base folder.
        adapter_dir: the peft adapter.
        merged: the merged weights, or a folder ``merge_adapter`` wrote.
        texts: the texts to run.
        max_positions: cut each text to this many tokens (quick parity).
        on_layer: called as ``on_layer(done, total)`` after each decoder layer.
    """
    import torch

    from dta_edge.export.streamed_reference import hf_config, parity_ids, real_positions, text_batch
    from dta_edge.models.hf_load import causal_lm_from_config, load_lora_config, load_tokenizer

    check = merged_weights(model_dir, adapter_dir)  # the base and the adapter, apart
    reference = CheckpointWeights(merged) if isinstance(merged, Path) else merged
    tokenizer = load_tokenizer(model_dir)
    id_lists = parity_ids(tokenizer, texts, max_positions)
    config = hf_config(reference)
    with torch.device("meta"):
        skeleton = causal_lm_from_config(config, dtype=torch.float32).model
    with torch.no_grad():
        rotary = type(skeleton.rotary_emb)(config=config)
        hidden, context = text_batch(reference, config, rotary, id_lists)  # one padded batch
        lora_hidden, merged_hidden = _both_sides(
            check, reference, load_lora_config(adapter_dir), type(skeleton.layers[0]), config,
            (hidden, context), on_layer,
        )  # fmt: skip
        norm = skeleton.norm
        load_module(norm, "model.norm.", reference)
        worst, merged_best, lora_best, scale = _head_compare(  # every text in one pass
            check, reference, real_positions(norm(lora_hidden), id_lists),
            real_positions(norm(merged_hidden), id_lists),
        )  # fmt: skip
    lengths = [len(ids) for ids in id_lists]
    return MergeParity(
        max_abs_logit_diff=worst if math.isfinite(worst) else math.inf,
        top1_agreement=float((merged_best == lora_best).float().mean()) if sum(lengths) else 1.0,
        max_abs_logit=scale,
        token_ids=tuple(tuple(ids) for ids in id_lists),
        merged_argmax=tuple(tuple(part.tolist()) for part in merged_best.split(lengths)),
    )


def _both_sides(check: MergedWeights, reference: Weights, lora_config, layer_class, config,
                batch, on_layer):  # fmt: skip
    """The batch through every decoder layer twice: peft's unmerged LoRA and the merged weights.

    Each side widens its layers into its own pool (both layers of one index are alive at once).
    Returns the hidden states after the last layer, (peft's, merged).
    """
    import torch

    from dta_edge.export.streamed_reference import prefetch_next, run_layer

    hidden, context = batch
    lora_hidden = merged_hidden = hidden
    lora_pool, merged_pool = ParameterPool(), ParameterPool()
    for index in range(config.num_hidden_layers):
        with torch.device("meta"):
            lora_layer, merged_layer = layer_class(config, index), layer_class(config, index)
        lora_layer = _lora_layer(lora_layer, index, check.adapter, lora_config, check.base,
                                 lora_pool)  # fmt: skip
        load_module(merged_layer, f"model.layers.{index}.", reference, merged_pool)
        for weights in (check.base, reference):  # one file twice when the merge is a view
            prefetch_next(weights, merged_layer, index, config.num_hidden_layers)
        lora_hidden = run_layer(lora_layer, lora_hidden, context)
        merged_hidden = run_layer(merged_layer, merged_hidden, context)
        if on_layer is not None:
            on_layer(index + 1, config.num_hidden_layers)
    return lora_hidden, merged_hidden

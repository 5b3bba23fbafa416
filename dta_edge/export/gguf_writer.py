"""Write a transformers checkpoint as GGUF with gguf-py, one tensor in memory at a time.

All tensor infos are declared first, then header, metadata and tensor infos are written, then each
tensor is read from safetensors, converted and written before the next is read. The file is built
under a temporary name and renamed into place, so an interrupted export leaves nothing half-written
under the final name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from dta_edge.errors import ExportError
from dta_edge.export.gguf_vocab import read_vocab
from dta_edge.models.bf16 import float32_to_bf16
from dta_edge.models.safetensors_stream import TensorEntry
from dta_edge.models.weights import Weights, as_weights

# HF architecture -> (gguf architecture name, whether q/k need llama.cpp's rope permutation).
ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "Qwen3ForCausalLM": ("qwen3", False),
    "Qwen2ForCausalLM": ("qwen2", False),
    "LlamaForCausalLM": ("llama", True),
}
OutType = Literal["f32", "f16", "bf16"]
# out type -> (gguf.GGMLQuantizationType, gguf.LlamaFileType, numpy type of its data)
_TYPES = {"f32": (0, 0, np.float32), "f16": (1, 1, np.float16), "bf16": (30, 32, np.uint16)}


@dataclass(frozen=True)
class TensorPlan:
    """One output tensor: where it comes from and what it becomes."""

    entry: TensorEntry
    gguf_name: str
    out_type: OutType  # matrices take the export's type; norms and 1-D tensors stay f32


def architecture_of(config: dict, model_dir: Path) -> tuple[str, bool]:
    """The gguf architecture of a model config, or an error listing the supported ones."""
    names = config.get("architectures") or []
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    raise ExportError(
        f"{model_dir / 'config.json'}: architecture {names or 'unknown'} is not supported for "
        f"GGUF; supported: {', '.join(ARCHITECTURES)}"
    )


def plan_tensors(
    weights: Weights, arch: str, n_layers: int, tied: bool, out_type: OutType
) -> list[TensorPlan]:
    """Map every checkpoint tensor to its GGUF name and type, reading only headers."""
    import gguf

    arch_enum = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    names = gguf.get_tensor_name_map(arch_enum, n_layers)
    plans: list[TensorPlan] = []
    for entry in weights.entries():
        if (tied and entry.name == "lm_head.weight") or entry.name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = names.get_name(entry.name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(
                f"{weights.folder}: tensor '{entry.name}' has no GGUF name for {arch}"
            )
        plans.append(TensorPlan(entry, gguf_name, out_type if len(entry.shape) == 2 else "f32"))
    return plans


def lossless_type(source: Path | Weights) -> OutType:
    """The smallest GGUF float type that holds every matrix of the checkpoint exactly.

    A bf16 download stays bf16 (half the size of f32, no rounding), f16 stays f16, anything else
    is f32. The quantizer reads this file, so quantizing from it equals quantizing from the
    checkpoint itself, without a float32 copy twice the checkpoint's size on disk.
    """
    dtypes = {entry.dtype for entry in as_weights(source).entries()
              if len(entry.shape) == 2}  # fmt: skip
    if dtypes == {"BF16"}:
        return "bf16"
    return "f16" if dtypes == {"F16"} else "f32"


def _permute_for_rope(weight, n_head: int):  # numpy array in, numpy array out
    """llama.cpp's rotary layout for LLaMA q/k projections (convert_hf_to_gguf's permute)."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def _tensor_array(
    plan: TensorPlan, weights: Weights, arch_permute: bool, config: dict
):  # -> numpy array
    """Read one tensor, apply the rope permutation if needed, cast to its GGUF type.

    A bf16 tensor written as bf16 is copied as raw 16-bit words, never widened.
    """
    if plan.out_type == "bf16" and plan.entry.dtype == "BF16":
        array = weights.raw(plan.entry.name)
    else:
        array = weights.float32(plan.entry.name)
    name = plan.entry.name
    if arch_permute and name.endswith(("q_proj.weight", "k_proj.weight")):
        heads = config["num_attention_heads"]
        if name.endswith("k_proj.weight"):
            heads = config.get("num_key_value_heads") or heads
        array = _permute_for_rope(array, heads)
    if plan.out_type == "bf16":
        return np.ascontiguousarray(array if array.dtype == np.uint16 else float32_to_bf16(array))
    return np.ascontiguousarray(array.astype(_TYPES[plan.out_type][2], copy=False))


def write_gguf(
    source: Path | Weights, out_path: Path, out_type: OutType = "f16", on_tensor=None
) -> Path:
    """Convert a transformers folder (qwen3, qwen2, llama) into one GGUF file.

    Args:
        source: a folder with config.json, safetensors weights and tokenizer files, or weights
            read through another source (a base with its adapter merged in, tensor by tensor).
        out_path: the .gguf file to create (replaced atomically if it exists).
        out_type: "f32", "f16" or "bf16" for matrices (norms and 1-D tensors stay f32, as
            llama.cpp does).
        on_tensor: called as ``on_tensor(done, total)`` after each tensor is written.

    Returns:
        ``out_path``.

    Raises:
        ExportError: unsupported architecture or tokenizer, or missing files.
    """
    import gguf

    weights = as_weights(source)
    model_dir = weights.folder
    config = weights.config()
    arch, permute = architecture_of(config, model_dir)
    n_layers = config["num_hidden_layers"]
    tied = bool(config.get("tie_word_embeddings", False))
    vocab = read_vocab(model_dir, config["vocab_size"])
    plans = plan_tensors(weights, arch, n_layers, tied, out_type)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.partial")
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        _add_metadata(writer, arch, config, vocab, model_dir, out_type)
        for plan in plans:
            ggml_type, _, data_type = _TYPES[plan.out_type]
            dtype = np.dtype(data_type)
            nbytes = int(np.prod(plan.entry.shape)) * dtype.itemsize
            writer.add_tensor_info(plan.gguf_name, plan.entry.shape, dtype, nbytes,
                                   raw_dtype=gguf.GGMLQuantizationType(ggml_type))  # fmt: skip
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for done, plan in enumerate(plans, start=1):
            if done < len(plans):  # the next tensor's bytes load while this one is written
                weights.prefetch([plans[done].entry.name])
            writer.write_tensor_data(_tensor_array(plan, weights, permute, config))
            if on_tensor is not None:
                on_tensor(done, len(plans))
        writer.close()
        os.replace(tmp, out_path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return out_path


def _add_metadata(
    writer, arch: str, config: dict, vocab, model_dir: Path, out_type: OutType
) -> None:
    import gguf

    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    rope = config.get("rope_parameters") or {}
    rope_theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(model_dir.name)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(gguf.LlamaFileType(_TYPES[out_type][1]))
    writer.add_context_length(config.get("max_position_embeddings", 4096))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    if arch == "llama":  # as upstream's converter: llama files carry both, qwen ones neither
        writer.add_rope_dimension_count(head_dim)
        writer.add_vocab_size(len(vocab.tokens))
    _add_sampling_defaults(writer, model_dir)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    vocab.special.add_to_gguf(writer, quiet=True)


def _add_sampling_defaults(writer, model_dir: Path) -> None:
    """generation_config.json's temperature, top-p and top-k, as llama.cpp's converter keeps them.

    llama.cpp uses them as the model's default sampling settings, so a Qwen3 GGUF samples as
    the released model recommends unless the caller says otherwise.
    """
    path = model_dir / "generation_config.json"
    if not path.exists():
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
    for key, add in (("temperature", writer.add_sampling_temp),
                     ("top_p", writer.add_sampling_top_p)):  # fmt: skip
        if isinstance(config.get(key), int | float):
            add(float(config[key]))
    if isinstance(config.get("top_k"), int):
        writer.add_sampling_top_k(config["top_k"])

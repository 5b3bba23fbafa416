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

from dta_edge.errors import ExportError
from dta_edge.export.gguf_vocab import read_vocab
from dta_edge.export.safetensors_stream import TensorEntry, iter_index, read_float32

# HF architecture -> (gguf architecture name, whether q/k need llama.cpp's rope permutation).
ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "Qwen3ForCausalLM": ("qwen3", False),
    "Qwen2ForCausalLM": ("qwen2", False),
    "LlamaForCausalLM": ("llama", True),
}
OutType = Literal["f32", "f16"]


@dataclass(frozen=True)
class TensorPlan:
    """One output tensor: where it comes from and what it becomes."""

    entry: TensorEntry
    gguf_name: str
    shard: Path
    float16: bool


def _load_config(model_dir: Path) -> dict:
    path = model_dir / "config.json"
    if not path.exists():
        raise ExportError(f"{path}: missing; not a transformers model folder")
    return json.loads(path.read_text(encoding="utf-8"))


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


def _shards(model_dir: Path) -> list[Path]:
    shards = sorted(model_dir.glob("*.safetensors"))
    if not shards:
        raise ExportError(f"{model_dir}: no .safetensors weights found")
    return shards


def plan_tensors(
    model_dir: Path, arch: str, n_layers: int, tied: bool, out_type: OutType
) -> list[TensorPlan]:
    """Map every checkpoint tensor to its GGUF name and type, reading only headers."""
    import gguf

    arch_enum = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    names = gguf.get_tensor_name_map(arch_enum, n_layers)
    plans: list[TensorPlan] = []
    for shard, entry in iter_index(_shards(model_dir)):
        if (tied and entry.name == "lm_head.weight") or entry.name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = names.get_name(entry.name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"{shard}: tensor '{entry.name}' has no GGUF name for {arch}")
        plans.append(
            TensorPlan(entry, gguf_name, shard, out_type == "f16" and len(entry.shape) == 2)
        )
    return plans


def _permute_for_rope(weight, n_head: int):  # numpy array in, numpy array out
    """llama.cpp's rotary layout for LLaMA q/k projections (convert_hf_to_gguf's permute)."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def _tensor_array(plan: TensorPlan, arch_permute: bool, config: dict):  # -> numpy array
    """Read one tensor, apply the rope permutation if needed, cast to its GGUF type."""
    import numpy as np

    array = read_float32(plan.shard, plan.entry)
    name = plan.entry.name
    if arch_permute and name.endswith(("q_proj.weight", "k_proj.weight")):
        heads = config["num_attention_heads"]
        if name.endswith("k_proj.weight"):
            heads = config.get("num_key_value_heads") or heads
        array = _permute_for_rope(array, heads)
    return np.ascontiguousarray(
        array.astype(np.float16 if plan.float16 else np.float32, copy=False)
    )


def write_gguf(model_dir: Path, out_path: Path, out_type: OutType = "f16") -> Path:
    """Convert a transformers folder (qwen3, qwen2, llama) into one GGUF file.

    Args:
        model_dir: config.json, safetensors weights and tokenizer files.
        out_path: the .gguf file to create (replaced atomically if it exists).
        out_type: "f32", or "f16" for matrices (norms and 1-D tensors stay f32, as llama.cpp does).

    Returns:
        ``out_path``.

    Raises:
        ExportError: unsupported architecture or tokenizer, or missing files.
    """
    import gguf
    import numpy as np

    config = _load_config(model_dir)
    arch, permute = architecture_of(config, model_dir)
    n_layers = config["num_hidden_layers"]
    tied = bool(config.get("tie_word_embeddings", False))
    vocab = read_vocab(model_dir, config["vocab_size"])
    plans = plan_tensors(model_dir, arch, n_layers, tied, out_type)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.partial")
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        _add_metadata(writer, config, vocab, model_dir.name, out_type)
        for plan in plans:
            dtype = np.float16 if plan.float16 else np.float32
            shape = plan.entry.shape
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            writer.add_tensor_info(plan.gguf_name, shape, np.dtype(dtype), nbytes)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for plan in plans:
            writer.write_tensor_data(_tensor_array(plan, permute, config))
        writer.close()
        os.replace(tmp, out_path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return out_path


def _add_metadata(writer, config: dict, vocab, name: str, out_type: OutType) -> None:
    import gguf

    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    rope = config.get("rope_parameters") or {}
    rope_theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.ALL_F32
    )
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
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    bos = vocab.bos_id if vocab.bos_id is not None else config.get("bos_token_id")
    eos = vocab.eos_id if vocab.eos_id is not None else config.get("eos_token_id")
    pad = vocab.pad_id if vocab.pad_id is not None else config.get("pad_token_id")
    if isinstance(eos, list):
        eos = eos[0]
    for value, add in (
        (bos, writer.add_bos_token_id),
        (eos, writer.add_eos_token_id),
        (pad, writer.add_pad_token_id),
    ):
        if value is not None:
            add(int(value))
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)  # as upstream's converter: chat models never append EOS
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)

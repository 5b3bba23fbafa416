"""Random checkpoints shaped like Hugging Face downloads, written one tensor chunk at a time.

A user's Qwen3-8B or Llama-3-8B folder is bf16, split into shards with a
model.safetensors.index.json, with tied or untied embeddings, a generation_config.json listing
several end-of-sequence ids, and a real tokenizer. Exporting, benchmarking and training code is
exercised on exactly that shape, with random weights and a rebuilt real tokenizer
(dta_edge_testing/reference_tokenizers), without a download. Tensors are generated and written
in chunks, so a 16 GB 8B-shaped checkpoint needs well under 1 GB of memory to build.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from dta_edge.models.bf16 import float32_to_bf16
from dta_edge_testing.reference_tokenizers import ReferenceTokenizer

Architecture = Literal["qwen3", "llama"]
DType = Literal["bfloat16", "float16", "float32"]
_SAFETENSORS_DTYPE = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}
_ITEMSIZE = {"bfloat16": 2, "float16": 2, "float32": 4}
_CHUNK_ELEMENTS = 1 << 24  # 64 MiB of float32 per generated chunk


@dataclass(frozen=True)
class CheckpointShape:
    """The hyperparameters that decide a decoder's tensor shapes."""

    architecture: Architecture
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tied: bool
    rope_theta: float
    max_position_embeddings: int
    rms_norm_eps: float

    def tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every weight, in the order transformers saves them."""
        h, q, kv = (
            self.hidden_size,
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
        )
        names = [("model.embed_tokens.weight", (self.vocab_size, h))]
        for i in range(self.num_layers):
            layer = f"model.layers.{i}"
            names += [(f"{layer}.input_layernorm.weight", (h,)),
                      (f"{layer}.self_attn.q_proj.weight", (q, h)),
                      (f"{layer}.self_attn.k_proj.weight", (kv, h)),
                      (f"{layer}.self_attn.v_proj.weight", (kv, h)),
                      (f"{layer}.self_attn.o_proj.weight", (h, q))]  # fmt: skip
            if self.architecture == "qwen3":
                names += [(f"{layer}.self_attn.q_norm.weight", (self.head_dim,)),
                          (f"{layer}.self_attn.k_norm.weight", (self.head_dim,))]  # fmt: skip
            names += [(f"{layer}.post_attention_layernorm.weight", (h,)),
                      (f"{layer}.mlp.gate_proj.weight", (self.intermediate_size, h)),
                      (f"{layer}.mlp.up_proj.weight", (self.intermediate_size, h)),
                      (f"{layer}.mlp.down_proj.weight", (h, self.intermediate_size))]  # fmt: skip
        names.append(("model.norm.weight", (h,)))
        if not self.tied:
            names.append(("lm_head.weight", (self.vocab_size, h)))
        return names

    def parameters(self) -> int:
        """Number of weights (a tied output matrix counted once)."""
        return sum(math.prod(shape) for _, shape in self.tensors())


# Released shapes (config.json of the downloads), and small ones with the same vocabularies.
SHAPES: dict[str, CheckpointShape] = {
    "qwen3-8b": CheckpointShape("qwen3", 4096, 12288, 36, 32, 8, 128, 151936, False,
                                1_000_000.0, 40960, 1e-6),
    "qwen3-0.6b": CheckpointShape("qwen3", 1024, 3072, 28, 16, 8, 128, 151936, True,
                                  1_000_000.0, 40960, 1e-6),
    "llama3-8b": CheckpointShape("llama", 4096, 14336, 32, 32, 8, 128, 128256, False,
                                 500_000.0, 8192, 1e-5),
}  # fmt: skip
_SMALL = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 4,
          "num_kv_heads": 2, "head_dim": 16}  # fmt: skip
SHAPES["qwen3-small"] = replace(SHAPES["qwen3-0.6b"], **_SMALL)  # tied, as Qwen3 up to 4B
SHAPES["llama3-small"] = replace(SHAPES["llama3-8b"], **_SMALL)  # untied


def _config(shape: CheckpointShape, tokenizer: ReferenceTokenizer, dtype: DType) -> dict:
    common = {
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": tokenizer.bos_id,
        "head_dim": shape.head_dim, "hidden_act": "silu", "hidden_size": shape.hidden_size,
        "initializer_range": 0.02, "intermediate_size": shape.intermediate_size,
        "max_position_embeddings": shape.max_position_embeddings,
        "num_attention_heads": shape.num_heads, "num_hidden_layers": shape.num_layers,
        "num_key_value_heads": shape.num_kv_heads, "rms_norm_eps": shape.rms_norm_eps,
        "rope_scaling": None, "rope_theta": shape.rope_theta,
        "tie_word_embeddings": shape.tied, "torch_dtype": dtype, "use_cache": True,
        "vocab_size": shape.vocab_size,
    }  # fmt: skip
    if shape.architecture == "qwen3":
        return {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
                **common, "bos_token_id": 151643, "eos_token_id": 151645,
                "max_window_layers": shape.num_layers, "sliding_window": None,
                "use_sliding_window": False}  # fmt: skip
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **common,
            "eos_token_id": list(tokenizer.eos_ids), "mlp_bias": False,
            "pretraining_tp": 1}  # fmt: skip


def _generation_config(tokenizer: ReferenceTokenizer) -> dict:
    config = {"bos_token_id": tokenizer.bos_id if tokenizer.bos_id is not None else 151643,
              "eos_token_id": list(tokenizer.eos_ids), "do_sample": True,
              "temperature": 0.6, "top_p": 0.95}  # fmt: skip
    if tokenizer.pad_id is not None:
        config["pad_token_id"] = tokenizer.pad_id
    return config


def _chunks(shape: tuple[int, ...], std: float, rng, dtype: DType) -> Iterator[bytes]:
    """The tensor's bytes, generated a slice of rows at a time (norm weights are ones)."""
    total = math.prod(shape)
    if len(shape) == 1:
        values = np.ones(total, dtype=np.float32) + rng.standard_normal(total, np.float32) * 0.1
        yield _encode(values, dtype)
        return
    for start in range(0, total, _CHUNK_ELEMENTS):
        count = min(_CHUNK_ELEMENTS, total - start)
        yield _encode(rng.standard_normal(count, np.float32) * np.float32(std), dtype)


def _encode(values: np.ndarray, dtype: DType) -> bytes:
    if dtype == "float32":
        return values.tobytes()
    if dtype == "float16":
        return values.astype(np.float16).tobytes()
    return float32_to_bf16(values).tobytes()


def _shard_plan(tensors: list[tuple[str, tuple[int, ...]]], itemsize: int,
                shard_bytes: int) -> list[list[tuple[str, tuple[int, ...]]]]:  # fmt: skip
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in tensors:
        nbytes = math.prod(shape) * itemsize
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    return shards


def _write_shard(path: Path, tensors, dtype: DType, rng, std_for) -> int:
    itemsize = _ITEMSIZE[dtype]
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        nbytes = math.prod(shape) * itemsize
        header[name] = {"dtype": _SAFETENSORS_DTYPE[dtype], "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}  # fmt: skip
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as handle:
        handle.write(len(raw).to_bytes(8, "little"))
        handle.write(raw)
        for name, shape in tensors:
            for chunk in _chunks(shape, std_for(name), rng, dtype):
                handle.write(chunk)
    return offset


def build_random_checkpoint(
    out_dir: Path,
    shape: CheckpointShape,
    tokenizer: ReferenceTokenizer,
    *,
    dtype: DType = "bfloat16",
    shard_bytes: int = 5 * 10**9,
    seed: int = 0,
) -> Path:
    """Write a random checkpoint with ``tokenizer``'s files into ``out_dir`` (replaced if there).

    Embedding and output rows have unit scale so that logits are well separated (a random model
    with 0.02-scale logits is all near-ties, and parity checks would measure float noise); the
    other matrices use 0.02 as transformers' initialiser does. More than one shard gets an index.
    """
    rng = np.random.default_rng(seed)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for item in tokenizer.path.iterdir():
        shutil.copy2(item, staging / item.name)
    (staging / "config.json").write_text(json.dumps(_config(shape, tokenizer, dtype), indent=2))
    (staging / "generation_config.json").write_text(
        json.dumps(_generation_config(tokenizer), indent=2)
    )

    def std_for(name: str) -> float:
        return 1.0 if name.endswith(("embed_tokens.weight", "lm_head.weight")) else 0.02

    shards = _shard_plan(shape.tensors(), _ITEMSIZE[dtype], shard_bytes)
    if len(shards) == 1:
        _write_shard(staging / "model.safetensors", shards[0], dtype, rng, std_for)
    else:
        weight_map, total = {}, 0
        for i, tensors in enumerate(shards, start=1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            total += _write_shard(staging / name, tensors, dtype, rng, std_for)
            weight_map.update({tensor: name for tensor, _ in tensors})
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (staging / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)
    return out_dir

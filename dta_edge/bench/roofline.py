"""How close decoding runs to what the device allows: bytes read per token against bandwidth.

Decoding one token reads every weight matrix once (batch 1), plus the KV cache of the context so
far; the device streams at most ``memory_bandwidth_gbs``, so tokens/s <= bandwidth / bytes per
token. The bytes come from the model file itself: a GGUF's tensor table gives each tensor's size
in its own quantization type (Q4_K blocks, Q6_K output, f32 norms), a safetensors folder its
headers. The token embedding is a lookup (one row per token) unless it doubles as the output
matrix (tied), which is read whole. Achieved bandwidth = bytes per token x decode tokens/s; its
share of the profile's figure above 100% means the byte count is wrong, not a fast device.

The second ceiling is compute: each weight read is one multiply-add, done by llama.cpp's kernel
for its quantized type at the rate `dta profile measure` timed in cache (``matvec_gflops``). A
GGUF's compute-bound decode time per token is the sum over its weight types of 2 x parameters of
that type / that type's rate. Where both ceilings are known, the one that allows fewer tokens/s
binds. Both shares well below 100% mean the costs add rather than overlap (on two CPU threads,
loading weights and computing with them barely overlap: docs/bench.md) or that the time goes
elsewhere (thread hand-offs, graph set-up, the harness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from dta_edge.config import FrozenModel

_EMBEDDING_NAMES = ("token_embd.weight", "model.embed_tokens.weight")
_OUTPUT_NAMES = ("output.weight", "lm_head.weight")
KV_BYTES_PER_VALUE = 2  # f16 KV cache, llama.cpp's and vLLM's default


@dataclass(frozen=True)
class DecodeFootprint:
    """What one decode step reads: weights, and the KV cache per token of context."""

    weight_bytes: int
    kv_bytes_per_context_token: int
    parameters: int | None  # None where the file cannot say (packed ONNX weights)
    # parameters in matrix-vector products per ggml type ("q8_0": n), GGUF only
    matvec_parameters: dict[str, int] = field(default_factory=dict)

    def bytes_per_token(self, context_tokens: float) -> float:
        """Weights plus the KV cache at ``context_tokens`` of context."""
        return self.weight_bytes + self.kv_bytes_per_context_token * context_tokens


class Roofline(FrozenModel):
    """A system's decode and prefill against the profile's ceilings."""

    decode_bytes_per_token: float
    decode_bandwidth_gbs: float
    bandwidth_share: float | None = None  # None: the profile declares no bandwidth
    memory_bandwidth_gbs: float | None = None
    prefill_tflops: float | None = None
    prefill_share: float | None = None
    decode_gflops: float | None = None  # 2 x matrix-vector parameters x decode tokens/s
    compute_ceiling_gflops: float | None = None  # the same work at the measured kernel rates
    compute_share: float | None = None
    roofline_binding: str | None = None  # "memory" or "compute": the lower tokens/s bound


def gguf_footprint(path: Path) -> DecodeFootprint:
    """Bytes per decode step of a GGUF file, from its tensor table and hyper-parameters."""
    from dta_edge.models.gguf_header import read_gguf_header

    # one pass: every value but the tokenizer's (its token and merge arrays are the slow part)
    header = read_gguf_header(path, keep=lambda key: not key.startswith("tokenizer."))
    meta = header.metadata
    arch = str(meta.get("general.architecture", ""))
    sizes, rows, types = {}, {}, {}
    for tensor in header.tensors:
        sizes[tensor.name] = (tensor.nbytes, math.prod(tensor.shape))
        rows[tensor.name] = tensor.shape[0] if tensor.shape else 1  # ggml order: row length first
        if len(tensor.shape) == 2:
            types[tensor.name] = tensor.type_name
    weight_bytes, params = _weights_read(sizes, rows)
    layers = int(meta.get(f"{arch}.block_count", 0) or 0)
    heads = int(meta.get(f"{arch}.attention.head_count", 1) or 1)
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads) or heads)
    width = int(meta.get(f"{arch}.embedding_length", 0) or 0)
    key = int(meta.get(f"{arch}.attention.key_length", width // heads if heads else 0) or 0)
    value = int(meta.get(f"{arch}.attention.value_length", key) or key)
    kv = layers * kv_heads * (key + value) * KV_BYTES_PER_VALUE
    return DecodeFootprint(weight_bytes, kv, params, _matvec_parameters(sizes, types))


def _matvec_parameters(sizes: dict[str, tuple[int, int]], types: dict[str, str]) -> dict[str, int]:
    """Parameters multiplied per decode step, by ggml type.

    Every matrix counts but a looked-up embedding (one tied to the output is the output matrix).
    """
    tied = not any(name in sizes for name in _OUTPUT_NAMES)
    counted: dict[str, int] = {}
    for name, kind in types.items():
        if name in _EMBEDDING_NAMES and not tied:
            continue
        counted[kind] = counted.get(kind, 0) + sizes[name][1]
    return counted


def safetensors_footprint(folder: Path) -> DecodeFootprint:
    """Bytes per decode step of a transformers folder, from its safetensors headers."""
    import json

    from dta_edge.models.safetensors_stream import iter_index, weight_files

    sizes, rows = {}, {}
    for _, entry in iter_index(weight_files(folder)):
        sizes[entry.name] = (entry.nbytes, math.prod(entry.shape))
        rows[entry.name] = entry.shape[-1] if entry.shape else 1  # torch order: row length last
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weight_bytes, params = _weights_read(sizes, rows)
    heads = config.get("num_attention_heads", 1)
    head_dim = config.get("head_dim") or config.get("hidden_size", 0) // max(1, heads)
    kv_heads = config.get("num_key_value_heads") or heads
    kv = config.get("num_hidden_layers", 0) * kv_heads * 2 * head_dim * KV_BYTES_PER_VALUE
    return DecodeFootprint(weight_bytes, kv, params)


def _weights_read(
    sizes: dict[str, tuple[int, int]], row_lengths: dict[str, int]
) -> tuple[int, int]:
    """(bytes read per decode step, parameters) of a tensor table.

    Every tensor counts whole, except the embedding beside a separate output matrix (untied),
    of which one row is read; a tied embedding is the output matrix and is read whole.
    """
    tied = not any(name in sizes for name in _OUTPUT_NAMES)
    total = params = 0
    for name, (nbytes, elements) in sizes.items():
        params += elements
        if name in _EMBEDDING_NAMES and not tied:
            rows = max(1, elements // max(1, row_lengths.get(name, 1)))
            total += nbytes // rows
        else:
            total += nbytes
    return total, params


def onnx_footprint(folder: Path) -> DecodeFootprint:
    """Bytes per decode step of an ONNX Runtime GenAI folder, from the graph's initializers.

    Every initializer counts whole (its external-data length, packed int4/int8 as stored),
    except lookups: a table read by a Gather (the embedding) or the rotary cos/sin caches, of
    which one row per token is read. The KV cache shape comes from genai_config.json.
    """
    import json

    import onnx

    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    lookups = {node.input[0] for node in model.graph.node
               if node.op_type in ("Gather", "GatherBlockQuantized")}  # fmt: skip
    total = 0
    for tensor in model.graph.initializer:
        stored = {entry.key: entry.value for entry in tensor.external_data}
        size = int(stored.get("length", 0)) or len(tensor.raw_data)
        if not size:
            size = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
            for dim in tensor.dims:
                size *= dim
        if (tensor.name in lookups or tensor.name in ("cos_cache", "sin_cache")) and tensor.dims:
            size //= max(1, tensor.dims[0])
        total += size
    decoder = json.loads((folder / "genai_config.json").read_text())["model"]["decoder"]
    kv = (decoder["num_hidden_layers"] * decoder["num_key_value_heads"] * 2
          * decoder["head_size"] * KV_BYTES_PER_VALUE)  # fmt: skip
    return DecodeFootprint(total, kv, None)


def model_footprint(model: str) -> DecodeFootprint | None:
    """The footprint of a local model; None for served models and hub ids.

    A GGUF file, a folder holding one GGUF (an export), an ONNX Runtime GenAI folder (or an
    export holding one), or a transformers folder.
    """
    path = Path(model)
    if path.is_dir() and (path / "onnx" / "genai_config.json").exists():
        path = path / "onnx"  # an export folder
    if path.is_dir() and (path / "genai_config.json").exists() and (path / "model.onnx").exists():
        return onnx_footprint(path)
    ggufs = sorted(path.glob("*.gguf")) if path.is_dir() else []
    if len(ggufs) == 1:
        path = ggufs[0]
    if path.is_file() and path.suffix == ".gguf":
        return gguf_footprint(path)
    if path.is_dir() and (path / "config.json").exists() and any(path.glob("*.safetensors")):
        return safetensors_footprint(path)
    return None


def compute_ceiling(
    matvec_parameters: dict[str, int], matvec_gflops: dict[str, float] | None
) -> float | None:
    """GFLOP/s a decode step could reach if only the kernels counted.

    None when a weight type holding over 1% of the parameters was not measured.
    """
    total = sum(matvec_parameters.values())
    if not total or not matvec_gflops:
        return None
    seconds = 0.0
    for kind, count in matvec_parameters.items():
        rate = matvec_gflops.get(kind)
        if rate is None:
            if count > total / 100:
                return None
            continue  # a stray small matrix: left out of both sides
        seconds += 2 * count / (rate * 1e9)
    counted = sum(c for k, c in matvec_parameters.items() if k in matvec_gflops)
    return 2 * counted / seconds / 1e9 if seconds else None


def roofline(
    footprint: DecodeFootprint,
    decode_tokens_per_s: float | None,
    context_tokens: float,
    memory_bandwidth_gbs: float | None,
    prefill: tuple[float, float] | None = None,
    peak_tflops: float | None = None,
    matvec_gflops: dict[str, float] | None = None,
) -> Roofline | None:
    """Decode against both ceilings; prefill compute and its share.

    The compute ceiling needs the profile's ``matvec_gflops`` (and a GGUF, whose types say which
    kernels run).

    Prefill TFLOP/s is 2 x parameters x prompt tokens / prefill seconds, from ``prefill`` =
    (prompt tokens, seconds); its share needs the profile's ``peak_tflops``.
    """
    if not decode_tokens_per_s:
        return None
    per_token = footprint.bytes_per_token(context_tokens)
    achieved = per_token * decode_tokens_per_s / 1e9
    tflops = share = None
    if prefill is not None and prefill[1] > 0 and footprint.parameters:
        tflops = 2 * footprint.parameters * prefill[0] / prefill[1] / 1e12
        share = tflops / peak_tflops if peak_tflops else None
    flops_per_token = 2 * sum(footprint.matvec_parameters.values())
    ceiling = compute_ceiling(footprint.matvec_parameters, matvec_gflops)
    gflops = flops_per_token * decode_tokens_per_s / 1e9 if flops_per_token else None
    bounds = {}  # tokens/s each ceiling allows
    if memory_bandwidth_gbs:
        bounds["memory"] = memory_bandwidth_gbs * 1e9 / per_token
    if ceiling:
        bounds["compute"] = ceiling * 1e9 / flops_per_token
    return Roofline(
        decode_bytes_per_token=per_token,
        decode_bandwidth_gbs=achieved,
        bandwidth_share=achieved / memory_bandwidth_gbs if memory_bandwidth_gbs else None,
        memory_bandwidth_gbs=memory_bandwidth_gbs,
        prefill_tflops=tflops,
        prefill_share=share,
        decode_gflops=gflops,
        compute_ceiling_gflops=ceiling,
        compute_share=gflops / ceiling if gflops and ceiling else None,
        roofline_binding=min(bounds, key=bounds.__getitem__) if len(bounds) == 2 else None,
    )

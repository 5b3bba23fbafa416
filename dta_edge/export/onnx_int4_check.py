"""Exact check of an int4 ONNX graph: same dequantized weights in transformers, same logits.

Top-1 agreement says how much int4 costs; it cannot tell a wrong graph from a lossy one. Here the
MatMulNBits weights of the exported graph are dequantized (4-bit blocks of 32, zero point 8 when
none is stored) and loaded into the transformers model, and the graph is run with
``accuracy_level=1`` (fp32 compute, no int8 activations) so both sides compute the same function:
what remains is float rounding. Fused projections (qkv, gate_up) are split back into the
transformers modules they came from.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dta_edge.errors import ExportError

# Builder initializer stems of decoder layers, e.g. model.layers.3.attn.qkv_proj.MatMul
_LAYER = re.compile(r"^model\.layers\.(\d+)\.(attn|mlp)\.(\w+)\.MatMul$")


def dequantize_matmul_nbits(packed, scales, zero_points, n: int, k: int, block_size: int):
    """[N, blocks, block_size/2] uint8 nibbles (low first) -> float32 [N, K]."""
    import numpy as np

    low, high = packed & 0x0F, packed >> 4
    values = np.stack([low, high], axis=-1).reshape(n, -1, block_size).astype(np.float32)
    blocks = values.shape[1]
    if zero_points is None:
        zeros = np.full((n, blocks, 1), 8.0, dtype=np.float32)
    else:
        zp = zero_points.reshape(n, -1)
        zp = np.stack([zp & 0x0F, zp >> 4], axis=-1).reshape(n, -1)[:, :blocks]
        zeros = zp.astype(np.float32)[..., None]
    weights = (values - zeros) * scales.reshape(n, blocks, 1).astype(np.float32)
    return weights.reshape(n, blocks * block_size)[:, :k]


def _hf_targets(stem: str, config: dict) -> list[tuple[str, int]]:
    """The (name, rows) of the transformers parameters one fused builder weight feeds."""
    if stem == "lm_head.MatMul":
        return [("lm_head.weight", -1)]
    match = _LAYER.match(stem)
    if not match:
        raise ExportError(f"int4 check: no transformers parameter known for '{stem}'")
    layer, block, proj = match.groups()
    prefix = f"model.layers.{layer}.{'self_attn' if block == 'attn' else 'mlp'}"
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    q_rows = config["num_attention_heads"] * head_dim
    kv_rows = (config.get("num_key_value_heads") or config["num_attention_heads"]) * head_dim
    inter = config["intermediate_size"]
    fused = {
        "qkv_proj": [("q_proj", q_rows), ("k_proj", kv_rows), ("v_proj", kv_rows)],
        "gate_up_proj": [("gate_proj", inter), ("up_proj", inter)],
    }.get(proj, [(proj, -1)])
    return [(f"{prefix}.{name}.weight", rows) for name, rows in fused]


def dequantized_state(onnx_model, config: dict) -> dict:
    """State-dict entries (transformers names) holding the graph's dequantized int4 weights."""
    from onnx import numpy_helper

    initializers = {i.name: i for i in onnx_model.graph.initializer}
    state = {}
    for node in onnx_model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: a for a in node.attribute}
        n, k, block = (attrs[key].i for key in ("N", "K", "block_size"))
        if attrs["bits"].i != 4:
            raise ExportError(f"int4 check: node {node.name} has {attrs['bits'].i} bits")
        arrays = [
            numpy_helper.to_array(initializers[name]) if name in initializers else None
            for name in list(node.input)[1:4]
        ] + [None] * 3
        weights = dequantize_matmul_nbits(arrays[0], arrays[1], arrays[2], n, k, block)
        stem = node.input[1].removesuffix(".weight_Q4")
        start = 0
        for name, rows in _hf_targets(stem, config):
            end = n if rows < 0 else start + rows
            state[name] = weights[start:end]
            start = end
    return state


def is_int4(onnx_dir: Path) -> bool:
    """Whether the graph holds 4-bit MatMulNBits weights (read without the external data)."""
    import onnx

    graph = onnx.load(str(onnx_dir / "model.onnx"), load_external_data=False).graph
    return any(
        node.op_type == "MatMulNBits" and any(a.name == "bits" and a.i == 4 for a in node.attribute)
        for node in graph.node
    )


def int4_dequant_max_logit_diff(onnx_dir: Path, model_dir: Path, texts: Sequence[str]) -> float:
    """Max |logit| difference: int4 graph at accuracy_level=1 vs transformers on its weights."""
    import json

    import onnx
    import torch

    from dta_edge.export.onnx_export import onnx_logits
    from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

    onnx_model = onnx.load(str(onnx_dir / "model.onnx"))
    config = json.loads((model_dir / "config.json").read_text())
    state = dequantized_state(onnx_model, config)
    for node in onnx_model.graph.node:
        for attribute in node.attribute:
            if node.op_type == "MatMulNBits" and attribute.name == "accuracy_level":
                attribute.i = 1
    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        parameters = dict(model.named_parameters())
        # Tied embeddings share one tensor, listed once, under the input embedding's name.
        parameters["lm_head.weight"] = model.get_output_embeddings().weight
        for name, weights in state.items():
            if name not in parameters:
                raise ExportError(f"int4 check: {model_dir} has no parameter '{name}'")
            parameters[name].copy_(torch.from_numpy(weights))
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        twin = Path(scratch)
        for name in ("genai_config.json",):
            (twin / name).write_bytes((onnx_dir / name).read_bytes())
        onnx.save(onnx_model, str(twin / "model.onnx"), save_as_external_data=True)
        for text in texts:
            ids = tokenizer.encode(text, add_special_tokens=False)
            with torch.no_grad():
                reference = model(torch.tensor([ids])).logits[0].numpy()
            diff = abs(onnx_logits(twin, ids) - reference).max()
            worst = max(worst, float(diff))
    return worst

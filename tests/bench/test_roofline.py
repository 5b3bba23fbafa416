"""The roofline: bytes per decode token from real model files, shares on constructed numbers."""

from __future__ import annotations

import pytest

from dta_edge.bench.roofline import (
    DecodeFootprint,
    gguf_footprint,
    model_footprint,
    roofline,
    safetensors_footprint,
)
from dta_edge.models.gguf_header import read_gguf_header


def test_shares_on_constructed_numbers():
    footprint = DecodeFootprint(weight_bytes=4 * 10**9, kv_bytes_per_context_token=10**5,
                                parameters=8 * 10**9)  # fmt: skip
    found = roofline(footprint, decode_tokens_per_s=20.0, context_tokens=1000,
                     memory_bandwidth_gbs=204.8, prefill=(512, 0.5), peak_tflops=100.0)  # fmt: skip
    assert found.decode_bytes_per_token == 4.1e9
    assert found.decode_bandwidth_gbs == pytest.approx(82.0)
    assert found.bandwidth_share == pytest.approx(82.0 / 204.8)
    assert found.prefill_tflops == pytest.approx(2 * 8e9 * 512 / 0.5 / 1e12)
    assert found.prefill_share == pytest.approx(found.prefill_tflops / 100.0)
    assert roofline(footprint, None, 0, 100.0) is None  # nothing decoded, nothing to say
    assert roofline(footprint, 5.0, 0, 100.0, prefill=(10, 0.1)).prefill_share is None


def test_the_lower_ceiling_binds_and_types_add_as_times():
    """Q4_K_M-like mix: 0.9 B q4_k at 150 GFLOP/s and 0.1 B q6_k at 100 GFLOP/s."""
    footprint = DecodeFootprint(weight_bytes=6 * 10**8, kv_bytes_per_context_token=0,
                                parameters=10**9,
                                matvec_parameters={"q4_k": 9 * 10**8, "q6_k": 10**8})  # fmt: skip
    rates = {"q4_k": 150.0, "q6_k": 100.0, "q8_0": 90.0}
    ceiling = 2e9 / (2 * 9e8 / 150e9 + 2 * 1e8 / 100e9) / 1e9
    memory_bound = roofline(footprint, 20.0, 0, memory_bandwidth_gbs=30.0, matvec_gflops=rates)
    assert memory_bound.compute_ceiling_gflops == pytest.approx(ceiling)
    assert memory_bound.decode_gflops == pytest.approx(2 * 1e9 * 20 / 1e9)
    assert memory_bound.compute_share == pytest.approx(40.0 / ceiling)
    assert memory_bound.roofline_binding == "memory"  # 50 tok/s allowed by memory, 70 by compute
    compute_bound = roofline(footprint, 20.0, 0, memory_bandwidth_gbs=300.0, matvec_gflops=rates)
    assert compute_bound.roofline_binding == "compute"
    # one ceiling alone: nothing to compare, no verdict
    assert roofline(footprint, 20.0, 0, memory_bandwidth_gbs=30.0).roofline_binding is None
    # a type the profile did not time (over 1% of the weights): no compute ceiling, no verdict
    unmeasured = roofline(footprint, 20.0, 0, None, matvec_gflops={"q4_k": 150.0})
    assert unmeasured.compute_ceiling_gflops is None and unmeasured.roofline_binding is None


def test_gguf_matrices_are_counted_by_type(tiny_gguf_f32):
    header = read_gguf_header(tiny_gguf_f32, keep=frozenset())
    matrices = sum(
        t.shape[0] * t.shape[1] for t in header.tensors if len(t.shape) == 2
    )  # tied embedding: it is the output matrix, so it counts
    assert gguf_footprint(tiny_gguf_f32).matvec_parameters == {"f32": matrices}


def test_tied_gguf_reads_every_tensor(tiny_gguf_f32):
    header = read_gguf_header(tiny_gguf_f32, keep=frozenset())
    footprint = gguf_footprint(tiny_gguf_f32)
    assert "output.weight" not in {t.name for t in header.tensors}
    assert footprint.weight_bytes == sum(t.nbytes for t in header.tensors)
    # tiny model: 4 layers, 2 KV heads of 32 dims for K and for V, f16 cache
    assert footprint.kv_bytes_per_context_token == 4 * 2 * (32 + 32) * 2
    assert model_footprint(str(tiny_gguf_f32)) == footprint


def test_model_footprint_finds_the_file_an_export_folder_holds(tiny_gguf_f32, tmp_path):
    import shutil

    shutil.copy(tiny_gguf_f32, tmp_path / "model.gguf")
    assert model_footprint(str(tmp_path)) == gguf_footprint(tiny_gguf_f32)
    assert model_footprint("Qwen/Qwen3-8B") is None  # a hub id or served name: nothing to count


def test_quantized_gguf_counts_its_own_block_sizes(tiny_gguf_f32, tmp_path):
    from dta_edge.export.gguf_quantize import quantize_gguf

    q4 = quantize_gguf(tiny_gguf_f32, tmp_path / "q4.gguf", "q4_k_m")
    q8 = quantize_gguf(tiny_gguf_f32, tmp_path / "q8.gguf", "q8_0")
    f32, b8, b4 = (gguf_footprint(p).weight_bytes for p in (tiny_gguf_f32, q8, q4))
    assert b4 < b8 < f32
    assert b8 / f32 < 0.32  # Q8_0: 34 bytes per 32 weights against 128; norms stay f32


def test_untied_checkpoint_reads_one_embedding_row(tiny_model_dir, tmp_path):
    """A safetensors folder with a separate lm_head: the embedding is a lookup, not a read."""
    import json
    import shutil

    folder = shutil.copytree(tiny_model_dir, tmp_path / "untied")
    tied = safetensors_footprint(folder)
    config = json.loads((folder / "config.json").read_text())
    hidden, vocab = config["hidden_size"], config["vocab_size"]
    from safetensors.numpy import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"].copy()
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    untied = safetensors_footprint(folder)
    row = hidden * weights["model.embed_tokens.weight"].itemsize
    assert untied.weight_bytes == tied.weight_bytes + row
    assert untied.parameters == tied.parameters + vocab * hidden


def test_onnx_folder_counts_initializers_and_looks_up_the_caches(tiny_onnx_fp32):
    import onnx

    footprint = model_footprint(str(tiny_onnx_fp32))
    data = (tiny_onnx_fp32 / "model.onnx.data").stat().st_size
    graph = onnx.load(str(tiny_onnx_fp32 / "model.onnx"), load_external_data=False).graph
    sizes = {t.name: int({e.key: e.value for e in t.external_data}["length"])
             for t in graph.initializer if t.external_data}  # fmt: skip
    # tied: the builder keeps one table, lm_head's, and gathers the embedding from its
    # transpose, so it is read whole; the rotary caches are lookups (one row per position)
    assert "lm_head.MatMul.weight" in sizes and "model.embed_tokens.weight" not in sizes
    caches = sizes["cos_cache"] + sizes["sin_cache"]
    assert data - caches < footprint.weight_bytes < data - caches + caches / 100
    assert footprint.kv_bytes_per_context_token == 4 * 2 * 2 * 32 * 2
    assert footprint.parameters is None
    found = roofline(footprint, 100.0, 10, 40.0, prefill=(10, 0.01))
    assert found.prefill_tflops is None and found.bandwidth_share > 0

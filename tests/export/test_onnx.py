"""ONNX export checked with the real ONNX Runtime (and GenAI) on the files we write."""

import json

import pytest

from dta_edge.errors import ExportError
from dta_edge.export.onnx_export import (
    ONNX_PRECISIONS,
    build_onnx,
    onnx_greedy_tokens,
    onnx_logits,
    onnx_top1_agreement,
    special_ids_match,
)
from dta_edge.export.onnx_int4_check import (
    dequantize_matmul_nbits,
    int4_dequant_max_logit_diff,
    is_int4,
)
from dta_edge.export.parity import hf_greedy_tokens
from dta_edge.export.runner import parity_texts

from .conftest import PROMPTS


@pytest.fixture(scope="session")
def onnx_dirs(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    return {p: build_onnx(tiny_model_dir, out / p, p) for p in ONNX_PRECISIONS}


@pytest.mark.slow
def test_files_and_special_ids(onnx_dirs, tiny_model_dir):
    for precision, folder in onnx_dirs.items():
        for name in ("model.onnx", "genai_config.json", "tokenizer.json"):
            assert (folder / name).exists(), (precision, name)
        assert special_ids_match(folder, tiny_model_dir), precision
        assert not (folder / ".cache").exists()


def test_fp32_greedy_matches_transformers(onnx_dirs, tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    eos = {
        tokenizer.convert_tokens_to_ids("<|im_end|>"),
        tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    }
    expected = []
    for tokens in hf_greedy_tokens(tiny_model_dir, PROMPTS, stop_at_eos=True):
        expected.append(
            tokens[:-1] if tokens and tokens[-1] in eos else tokens
        )  # GenAI drops the EOS
    ids = [tokenizer.encode(p, add_special_tokens=False) for p in PROMPTS]
    assert onnx_greedy_tokens(onnx_dirs["fp32"], ids) == expected


def test_top1_agreement(onnx_dirs, tiny_model_dir, artifacts_dir):
    texts = parity_texts(20)
    results = {
        p: onnx_top1_agreement(folder, tiny_model_dir, texts) for p, folder in onnx_dirs.items()
    }
    (artifacts_dir / "onnx_top1_agreement.json").write_text(json.dumps(results, indent=2))
    print("\nONNX top-1 agreement vs transformers fp32:", results)
    assert results["fp32"] >= 0.999
    assert results["int8"] >= 0.98 and results["int4"] >= 0.9  # reported; sanity bounds only


def test_corrupt_onnx_is_a_clear_error(onnx_dirs, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(onnx_dirs["int8"], broken)
    data = (broken / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(ExportError, match=r"model\.onnx"):
        onnx_logits(broken, [1, 2, 3])


@pytest.mark.slow
def test_builder_failure_leaves_nothing(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.json").write_text("{}")
    with pytest.raises(ExportError, match="builder failed"):
        build_onnx(tmp_path / "src", tmp_path / "out", "fp32")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_dequantize_matmul_nbits_unpacks_low_nibble_first():
    import numpy as np

    # One row, one block of 4 values: nibbles 9, 7, 8, 15 -> (v - 8) * 0.5
    packed = np.array([[[0x79, 0xF8]]], dtype=np.uint8)
    weights = dequantize_matmul_nbits(packed, np.array([[0.5]]), None, n=1, k=4, block_size=4)
    assert weights.tolist() == [[0.5, -0.5, 0.0, 3.5]]
    zero_points = np.array([0x07], dtype=np.uint8)  # zero point 7 for the single block
    weights = dequantize_matmul_nbits(packed, np.array([[0.5]]), zero_points, 1, 4, 4)
    assert weights.tolist() == [[1.0, 0.0, 0.5, 4.0]]


def test_int4_graph_equals_transformers_on_its_dequantized_weights(onnx_dirs, tiny_model_dir):
    """accuracy_level=1 leaves only float rounding: logits agree far tighter than int4 vs fp32."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = parity_texts(3)
    assert is_int4(onnx_dirs["int4"]) and not is_int4(onnx_dirs["int8"])
    exact = int4_dequant_max_logit_diff(onnx_dirs["int4"], tiny_model_dir, texts)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    ids = tokenizer.encode(texts[0], add_special_tokens=False)
    with torch.no_grad():
        original = model(torch.tensor([ids])).logits[0].numpy()
    quantization_error = float(np.abs(onnx_logits(onnx_dirs["int4"], ids) - original).max())
    print(f"\nint4 vs its dequantized weights: {exact:.2e}; vs fp32 weights: {quantization_error}")
    assert exact <= 1e-3
    assert quantization_error >= 20 * exact

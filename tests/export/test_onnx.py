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
from dta_edge.export.parity import hf_greedy_tokens
from dta_edge.export.runner import parity_texts

from .conftest import PROMPTS


@pytest.fixture(scope="session")
def onnx_dirs(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    return {p: build_onnx(tiny_model_dir, out / p, p) for p in ONNX_PRECISIONS}


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


def test_builder_failure_leaves_nothing(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.json").write_text("{}")
    with pytest.raises(ExportError, match="builder failed"):
        build_onnx(tmp_path / "src", tmp_path / "out", "fp32")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]

"""Export on checkpoints shaped like downloads, with the real Qwen3 and Llama-3 tokenizers.

The tokenizers are rebuilt from the vocab-only GGUFs and test vectors that llama-cpp-python's
source distribution ships (dta_edge_testing/reference_tokenizers); the checkpoints are random, bf16,
sharded with an index, tied (Qwen3) and untied (Llama-3), with a list of eos ids. llama.cpp's
own converter from the same sdist is the reference for what the GGUF must say.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from dta_edge.errors import ExportError
from dta_edge.export.gguf_quantize import QUANT_TYPES, quantize_gguf
from dta_edge.export.gguf_vocab import CONTROL, USER_DEFINED
from dta_edge.export.gguf_writer import lossless_type, write_gguf
from dta_edge.export.parity import gguf_top1_agreement, load_gguf, tokenization_parity
from dta_edge.export.runner import export_model, parity_texts, verify_export
from dta_edge.export.streamed_reference import streamed_argmax
from dta_edge.export.targets import ExportTarget
from dta_edge.models.gguf_header import read_gguf_header
from dta_edge.models.safetensors_stream import weight_files
from dta_edge_testing.random_checkpoint import SHAPES, build_random_checkpoint
from dta_edge_testing.reference_tokenizers import llama_cpp_sources, reference_tokenizer

CHECKPOINTS = {"qwen3": "qwen3-small", "llama3": "llama3-small"}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Both random checkpoints: bf16, several shards with an index, real tokenizers."""
    out = tmp_path_factory.mktemp("checkpoints")
    return {
        name: build_random_checkpoint(out / shape, SHAPES[shape], reference_tokenizer(name),
                                      shard_bytes=8_000_000)
        for name, shape in CHECKPOINTS.items()
    }  # fmt: skip


@pytest.fixture(scope="session")
def bf16_ggufs(checkpoints, tmp_path_factory):
    out = tmp_path_factory.mktemp("bf16")
    return {name: write_gguf(path, out / f"{name}.gguf", "bf16")
            for name, path in checkpoints.items()}  # fmt: skip


@pytest.fixture(scope="session")
def upstream_ggufs(checkpoints, tmp_path_factory):
    """The same checkpoints converted by llama.cpp's convert_hf_to_gguf.py (bf16)."""
    converter = llama_cpp_sources() / "convert_hf_to_gguf.py"
    out = tmp_path_factory.mktemp("upstream")
    files = {}
    for name, path in checkpoints.items():
        files[name] = out / f"{name}.gguf"
        result = subprocess.run(
            [sys.executable, str(converter), str(path), "--outfile", str(files[name]),
             "--outtype", "bf16"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
    return files


@pytest.mark.parametrize("name", ["qwen3", "llama3"])
def test_rebuilt_tokenizers_reproduce_the_upstream_test_vectors(name):
    from transformers import AutoTokenizer

    reference = reference_tokenizer(name)
    tokenizer = AutoTokenizer.from_pretrained(reference.path)
    vectors = reference.test_vectors()
    assert len(vectors) >= 40
    wrong = [text for text, ids in vectors
             if tokenizer.encode(text, add_special_tokens=False) != ids]  # fmt: skip
    assert wrong == []
    assert len(tokenizer) == {"qwen3": 151669, "llama3": 128256}[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen3", "llama3"])
def test_our_gguf_tokenizes_the_test_vectors_as_transformers(name, bf16_ggufs):
    llm = load_gguf(bf16_ggufs[name], vocab_only=True)
    vectors = reference_tokenizer(name).test_vectors()
    wrong = [text for text, ids in vectors
             if llm.tokenize(text.encode(), add_bos=False, special=False) != ids]  # fmt: skip
    assert wrong == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen3", "llama3"])
def test_gguf_keys_and_tensors_match_llama_cpps_converter(name, bf16_ggufs, upstream_ggufs):
    ours, theirs = read_gguf_header(bf16_ggufs[name]), read_gguf_header(upstream_ggufs[name])
    naming = {"general.name", "general.basename", "general.size_label"}  # from the folder name
    differing = {key for key in set(ours.metadata) | set(theirs.metadata)
                 if ours.metadata.get(key) != theirs.metadata.get(key)}  # fmt: skip
    assert differing <= naming
    assert any(key.startswith("tokenizer.ggml.") for key in ours.metadata)
    mine = {t.name: t for t in ours.tensors}
    upstream = {t.name: t for t in theirs.tensors}
    assert mine.keys() == upstream.keys()
    with bf16_ggufs[name].open("rb") as a, upstream_ggufs[name].open("rb") as b:
        for tensor_name, tensor in mine.items():
            other = upstream[tensor_name]
            assert (tensor.ggml_type, tensor.shape) == (other.ggml_type, other.shape), tensor_name
            a.seek(tensor.offset)
            b.seek(other.offset)
            assert a.read(tensor.nbytes) == b.read(other.nbytes), tensor_name


def test_token_types_and_special_flags_follow_upstream(bf16_ggufs):
    qwen = read_gguf_header(bf16_ggufs["qwen3"]).metadata
    tokens, types = qwen["tokenizer.ggml.tokens"], qwen["tokenizer.ggml.token_type"]
    kind = {token: types[i] for i, token in enumerate(tokens) if token.startswith("<")}
    assert kind["<|im_end|>"] == CONTROL
    assert kind["<|fim_prefix|>"] == CONTROL  # not special in Qwen3, but looks like a control
    assert kind["<think>"] == USER_DEFINED
    assert qwen["tokenizer.ggml.add_bos_token"] is False
    assert qwen["tokenizer.ggml.eos_token_id"] == 151645
    llama = read_gguf_header(bf16_ggufs["llama3"]).metadata
    assert llama["tokenizer.ggml.add_bos_token"] is True  # from the post-processor
    assert llama["tokenizer.ggml.bos_token_id"] == 128000
    assert llama["tokenizer.ggml.eos_token_id"] == 128009


@pytest.mark.slow
def test_parity_with_special_tokens_catches_a_lost_bos(checkpoints, tmp_path):
    """tokenizer_config.json saying add_bos_token false while the post-processor adds BOS."""
    folder = shutil.copytree(checkpoints["llama3"], tmp_path / "llama")
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "add_bos_token": False}))
    gguf = write_gguf(folder, tmp_path / "llama.gguf", "bf16")
    texts = parity_texts(3)
    plain, special = tokenization_parity(gguf, folder, texts)
    assert plain == [] and special == texts


@pytest.mark.parametrize("name", ["qwen3", "llama3"])
def test_streamed_reference_equals_the_whole_model(name, checkpoints):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = checkpoints[name]
    tokenizer = AutoTokenizer.from_pretrained(path)
    id_lists = [tokenizer.encode(text) for text in parity_texts(3)]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        whole = [model(torch.tensor([ids])).logits[0].argmax(-1).tolist() for ids in id_lists]
    assert streamed_argmax(path, id_lists) == whole


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen3", "llama3"])
def test_every_gguf_type_loads_and_f32_agrees(name, checkpoints, bf16_ggufs, tmp_path):
    """F32 holds the bf16 weights exactly; llama.cpp's bf16 kernels round activations too."""
    source = checkpoints[name]
    assert lossless_type(source) == "bf16"
    texts = parity_texts(4)
    f32 = write_gguf(source, tmp_path / "f32.gguf", "f32")
    assert gguf_top1_agreement(f32, source, texts) >= 0.99
    assert gguf_top1_agreement(bf16_ggufs[name], source, texts) >= 0.9
    files = {"f16": write_gguf(source, tmp_path / "f16.gguf", "f16")}
    for quant in QUANT_TYPES:
        files[quant] = quantize_gguf(bf16_ggufs[name], tmp_path / f"{quant}.gguf", quant)
    for path in files.values():
        llm = load_gguf(path)
        tokens = llm.tokenize(b"The SNR is", add_bos=True, special=True)
        generated = llm.generate(tokens, top_k=1, temp=0.0)
        assert [next(generated) for _ in range(4)]


def test_the_index_decides_which_shards_are_weights(checkpoints, tmp_path):
    folder = shutil.copytree(checkpoints["qwen3"], tmp_path / "qwen")
    shutil.copy(weight_files(folder)[0], folder / "consolidated.safetensors")  # a second copy
    assert "consolidated.safetensors" not in {p.name for p in weight_files(folder)}
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ExportError, match="model.safetensors.index.json: lists shards that are"):
        weight_files(folder)


@pytest.mark.slow
def test_export_quantized_with_quick_parity_and_verify(checkpoints, tmp_path):
    target = ExportTarget(name="q4", format="gguf", quantization="q4_k_m",
                          profile="profiles/cpu.yaml")  # fmt: skip
    manifest = export_model(target, checkpoints["llama3"], tmp_path / "out", parity="quick")
    assert manifest.parity_mode == "quick"
    assert manifest.parity["tokenization_with_special_tokens_identical"] == 1.0
    assert manifest.parity["top1_agreement"] > 0.5
    assert set(manifest.steps) == {"write", "quantize", "parity"}
    assert not list((tmp_path / "out").glob(".*.gguf"))  # the bf16 intermediate is gone
    result = verify_export(tmp_path / "out")
    assert result.files_ok and result.problems == ()


def test_parity_off_is_recorded(checkpoints, tmp_path):
    target = ExportTarget(name="bf16", format="gguf", quantization="bf16",
                          profile="profiles/cpu.yaml", parity="off")  # fmt: skip
    manifest = export_model(target, checkpoints["qwen3"], tmp_path / "out")
    assert manifest.parity == {} and manifest.parity_mode == "off"
    assert "off" in (manifest.parity_unavailable or "")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "precision", "floor"), [("llama3", "fp32", 0.99),
                                                          ("qwen3", "int4", 0.5)])  # fmt: skip
def test_onnx_on_download_shaped_checkpoints(name, precision, floor, checkpoints, tmp_path):
    """The builder's genai_config carries the download's ids (eos list, pad from
    generation_config.json) and the graph agrees with transformers."""
    from dta_edge.export.onnx_export import build_onnx, onnx_top1_agreement, special_ids_match

    onnx = build_onnx(checkpoints[name], tmp_path / "onnx", precision)
    assert special_ids_match(onnx, checkpoints[name])
    assert onnx_top1_agreement(onnx, checkpoints[name], parity_texts(3)) >= floor

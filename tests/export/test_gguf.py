"""GGUF export checked with the real llama.cpp on the files we write (tiny model).

llama-cpp-python is installed by `make test` (the gguf extra); it runs on a CPU, so these tests
fail rather than skip when it is missing.
"""

from __future__ import annotations

import json
import shutil

import pytest

from dta_edge.errors import ExportError
from dta_edge.export.gguf_quantize import QUANT_TYPES, quantize_gguf
from dta_edge.export.gguf_writer import write_gguf
from dta_edge.export.parity import (
    FLOAT_TIE,
    gguf_greedy_tokens,
    gguf_top1_agreement,
    greedy_divergences,
    hf_greedy_tokens,
    load_gguf,
    tokenization_mismatches,
)
from dta_edge.models.gguf_file import check_gguf
from dta_edge.tasks.generator import ProblemsConfig, generate_problems

from .conftest import PROMPTS


@pytest.fixture(scope="session")
def gguf_files(tiny_model_dir, tmp_path_factory):
    """F32, F16 and every quantization of the tiny model, written once per session."""
    out = tmp_path_factory.mktemp("gguf")
    files = {
        "f32": write_gguf(tiny_model_dir, out / "tiny-f32.gguf", "f32"),
        "f16": write_gguf(tiny_model_dir, out / "tiny-f16.gguf", "f16"),
    }
    for quant in QUANT_TYPES:
        files[quant] = quantize_gguf(files["f32"], out / f"tiny-{quant}.gguf", quant)
    return files


def test_metadata_is_complete(gguf_files, tiny_model_dir):
    import gguf

    reader = gguf.GGUFReader(gguf_files["f32"])
    fields = reader.fields

    def value(key):
        field = fields[key]
        part = field.parts[field.data[0]]
        return (
            bytes(part).decode()
            if field.types[0] == gguf.GGUFValueType.STRING
            else part.tolist()[0]
        )

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert value("general.architecture") == "qwen3"
    assert value("qwen3.rope.freq_base") == config["rope_parameters"]["rope_theta"]
    assert value("qwen3.block_count") == config["num_hidden_layers"]
    assert value("qwen3.attention.head_count_kv") == config["num_key_value_heads"]
    assert value("qwen3.attention.key_length") == config["head_dim"]
    assert value("tokenizer.ggml.model") == "gpt2"
    assert value("tokenizer.ggml.pre") == "qwen2"
    assert value("tokenizer.ggml.eos_token_id") == config["eos_token_id"]
    assert value("tokenizer.ggml.padding_token_id") == config["pad_token_id"]
    assert value("tokenizer.ggml.bos_token_id") == config["bos_token_id"]
    assert len(fields["tokenizer.ggml.tokens"].data) == config["vocab_size"]
    assert len(fields["tokenizer.ggml.merges"].data) > 500
    assert "enable_thinking" in value("tokenizer.chat_template")
    names = {t.name for t in reader.tensors}
    assert "token_embd.weight" in names and "blk.3.attn_q_norm.weight" in names
    assert "output.weight" not in names  # tied embeddings


def test_f16_keeps_norms_f32(gguf_files):
    import gguf

    types = {t.name: t.tensor_type for t in gguf.GGUFReader(gguf_files["f16"]).tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32


def parity_strings() -> list[str]:
    problems = list(generate_problems(ProblemsConfig(n=200, seed=99)))
    texts = [p.question for p in problems[:120]] + [p.solution for p in problems[120:]]
    texts += [
        "µ = 5 µs, Ω = 50 Ω, ∑ naïve café — “quotes” ‘single’",
        "日本語のテキスト 한국어 Ελληνικά кириллица",
        "emoji 📡📶🛰️ and tabs\tand\nnewlines\r\n",
        r"$\frac{E_b}{N_0} = 10^{-3}$ and \boxed{1.2 \times 10^{-3}}",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4",
        "1,234,567.890 -0.0001 3e-12 1e+09 007 2^10",
        "   leading spaces and trailing   ",
        "don't can't we'll I'M THEY'RE",
        "",
        " ",
        "\n\n\n",
        "a" * 300,
        "1" * 50,
    ]
    return texts


def test_tokenization_matches_transformers(gguf_files, tiny_model_dir):
    strings = parity_strings()
    assert len(strings) >= 200
    mismatches = tokenization_mismatches(gguf_files["f32"], tiny_model_dir, strings)
    assert not mismatches, f"{len(mismatches)} of {len(strings)} differ, e.g. {mismatches[:3]!r}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["f32", "f16"])
def test_greedy_generation_matches_transformers(gguf_files, tiny_model_dir, kind):
    """64 greedy tokens identical on at least 5 prompts; any divergence only at a float tie.

    The tiny model has near-ties (top-2 logits 0.0014 apart after 36 tokens of one prompt) that
    llama.cpp's F32 kernels resolve differently on some CPUs; such a flip is reported, and a
    divergence at a clear margin fails.
    """
    expected = hf_greedy_tokens(tiny_model_dir, PROMPTS)
    produced = gguf_greedy_tokens(gguf_files[kind], PROMPTS)
    divergences = greedy_divergences(tiny_model_dir, PROMPTS, produced, expected)
    assert all(abs(d["gap"]) < FLOAT_TIE for d in divergences), divergences
    assert len(PROMPTS) - len(divergences) >= 5, divergences
    if divergences:
        print(f"{kind}: near-tie flips (not errors): {divergences}")


@pytest.fixture(scope="session")
def teacher_forcing_texts():
    return [p.question + "\n" + p.solution for p in generate_problems(ProblemsConfig(n=40, seed=5))]


@pytest.mark.slow
def test_q8_0_gguf_top1_agreement(gguf_files, tiny_model_dir, teacher_forcing_texts, artifacts_dir):
    results = {
        q: gguf_top1_agreement(gguf_files[q], tiny_model_dir, teacher_forcing_texts)
        for q in ("f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m")
    }
    (artifacts_dir / "gguf_top1_agreement.json").write_text(json.dumps(results, indent=2))
    print("\nGGUF top-1 agreement vs transformers fp32:", results)
    assert results["q8_0"] >= 0.99


def test_check_gguf_rejects_broken_files(gguf_files, tmp_path):
    truncated = tmp_path / "truncated.gguf"
    data = gguf_files["f32"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match="truncated"):
        check_gguf(truncated)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"NOPE" + data[4:1000])
    with pytest.raises(ExportError, match="not a GGUF file"):
        check_gguf(junk)
    with pytest.raises(ExportError, match="truncated|corrupt"):
        quantize_gguf(truncated, tmp_path / "q.gguf", "q8_0")
    assert not (tmp_path / "q.gguf").exists()


def test_unsupported_architecture_lists_supported(tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ExportError, match="supported: Qwen3ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM"
    ):
        write_gguf(model, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize("architecture", ["Qwen2ForCausalLM", "LlamaForCausalLM"])
def test_other_architectures_match_transformers_logits(architecture, tiny_model_dir, tmp_path):
    """Random-weight Qwen2 (q/k/v biases, untied output) and Llama (llama.cpp's q/k rope
    permutation) built here with the tiny tokenizer: llama.cpp's teacher-forced logits must match
    transformers' at every position. (Greedy tokens of random weights hit near-ties, so logits are
    compared; a wrong rope layout or tensor mapping gives errors of the logits' own size.)"""
    import numpy as np
    import torch
    import transformers

    tiny_config = json.loads((tiny_model_dir / "config.json").read_text())
    config_class = {
        "Qwen2ForCausalLM": transformers.Qwen2Config,
        "LlamaForCausalLM": transformers.LlamaConfig,
    }
    config = config_class[architecture](
        vocab_size=tiny_config["vocab_size"], hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=512, initializer_range=0.2, tie_word_embeddings=False,
        bos_token_id=tiny_config["bos_token_id"], eos_token_id=tiny_config["eos_token_id"],
        pad_token_id=tiny_config["pad_token_id"],
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = getattr(transformers, architecture)(config).eval()
    model_dir = tmp_path / architecture
    model.save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tiny_model_dir / name, model_dir / name)
    path = write_gguf(model_dir, tmp_path / f"{architecture}.gguf", "f32")
    ids = list(range(5, 69))
    with torch.no_grad():
        reference = model(torch.tensor([ids])).logits[0].numpy()
    llm = load_gguf(path, logits_all=True)
    llm.eval(ids)
    ours = np.asarray(llm.scores[: len(ids)])
    scale = np.abs(reference).max()
    assert np.abs(ours - reference).max() <= 2e-3 * scale
    assert (ours.argmax(-1) == reference.argmax(-1)).mean() >= 0.95


def test_llama_cpp_gets_every_core_the_process_may_use(gguf_files, monkeypatch):
    """Parity on a workstation uses its cores; a fixed count would leave most of them idle."""
    from dta_edge.models import build_threads

    monkeypatch.setattr(build_threads, "allowed_cpus", lambda: {0, 1, 2, 5})
    assert load_gguf(gguf_files["q8_0"], vocab_only=True).n_threads == 4
    assert load_gguf(gguf_files["q8_0"], vocab_only=True, n_threads=1).n_threads == 1

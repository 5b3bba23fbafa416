"""The embedded tiny Qwen3: reproducible, cached, a normal transformers folder, and it answers."""

import hashlib
import json

import pytest

from dta_edge.models.chat import EMPTY_THINK, chat_template, render_completion, render_prompt
from dta_edge.models.tiny import BUILD_INFO, build_tiny_model, tiny_model
from dta_edge.models.tiny_config import TinyModelConfig

# A few seconds to build: enough to test the mechanics, not to learn anything.
QUICK = TinyModelConfig(
    corpus_problems=120, vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, head_dim=16, steps=3, batch_size=4,
)  # fmt: skip


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_is_deterministic_from_seed(tmp_path):
    build_tiny_model(QUICK, tmp_path / "a")
    build_tiny_model(QUICK, tmp_path / "b")
    build_tiny_model(QUICK.model_copy(update={"seed": 1}), tmp_path / "c")
    for name in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json"):
        assert digest(tmp_path / "a" / name) == digest(tmp_path / "b" / name), name
    assert digest(tmp_path / "a" / "model.safetensors") != digest(
        tmp_path / "c" / "model.safetensors"
    )


def test_cache_reuses_a_build_keyed_by_config(tmp_path):
    first = tiny_model(QUICK, cache_dir=tmp_path)
    second = tiny_model(QUICK, cache_dir=tmp_path)
    other = tiny_model(QUICK.model_copy(update={"steps": 4}), cache_dir=tmp_path)
    assert not first.cached and second.cached and not other.cached
    assert first.path == second.path != other.path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [first.path.name, other.path.name]
    )  # no staging left


def test_cache_key_changes_with_any_field():
    assert QUICK.cache_key() != QUICK.model_copy(update={"learning_rate": 1e-3}).cache_key()
    assert QUICK.cache_key() == TinyModelConfig(**QUICK.model_dump()).cache_key()


def test_default_model_is_a_plain_qwen3_folder(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in (
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
        "config.json",
        BUILD_INFO,
    ):
        assert (tiny_model_dir / name).exists(), name
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)  # no trust_remote_code
    assert type(model).__name__ == "Qwen3ForCausalLM"
    parameters = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= parameters <= 5_000_000
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    assert len(tokenizer) == model.config.vocab_size
    ids = tokenizer("Pr = -83.2 dBm", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape[-1] == model.config.vocab_size and torch.isfinite(logits).all()
    info = json.loads((tiny_model_dir / BUILD_INFO).read_text())
    assert info["final_loss"] < info["first_loss"] / 3  # it learned


def test_digits_are_single_tokens_like_qwen(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    pieces = tokenizer.tokenize("12345")
    assert pieces == ["1", "2", "3", "4", "5"]
    text = "Friis: L = 20log10(d) + 32.44 dB, µ = 5 — ∑ naïve"
    assert tokenizer.decode(tokenizer.encode(text)) == text


@pytest.mark.parametrize("thinking", [False, True])
def test_chat_template_matches_qwen3_thinking_switch(tiny_model_dir, thinking):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=thinking
    )
    assert rendered == render_prompt("What is 2 + 2?", thinking=thinking)
    assert rendered.endswith(EMPTY_THINK) is (not thinking)
    assert tokenizer.chat_template == chat_template()


def test_chat_template_renders_reasoning_of_assistant_turns(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "plan"},
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert (
        rendered
        == render_prompt("q", thinking=True) + render_completion("a", reasoning="plan") + "\n"
    )


@pytest.mark.slow
def test_default_model_answers_well_formed(tiny_model_dir, tmp_path, artifacts_dir):
    """Acceptance: >= 95% of greedy answers on 200 held-out problems declare an answer."""
    from dta_edge.models.evaluate import check_model

    result = check_model(tiny_model_dir, tmp_path, n=200, seed=7)
    (artifacts_dir / "tiny_model_check.json").write_text(result.model_dump_json(indent=2))
    assert result.well_formed_rate >= 0.95
    assert 0.0 <= result.summary.pass_at_1 <= 1.0 and set(result.summary.by_difficulty) <= {
        "basic",
        "advanced",
    }
    print(
        f"\ntiny model: well-formed {result.well_formed_rate:.1%}, "
        f"pass@1 {result.summary.pass_at_1:.1%}, by tier {result.summary.by_difficulty}"
    )


def test_check_uses_only_unseen_questions(tiny_model_dir):
    from dta_edge.models.evaluate import held_out_problems, training_questions

    problems, excluded = held_out_problems(tiny_model_dir, 200, 7)
    seen = training_questions(tiny_model_dir)
    assert len(seen) > 1000
    assert len(problems) == 200
    assert not any(p.question in seen for p in problems)
    assert excluded >= 0


def test_corpus_focus_oversamples_families():
    from collections import Counter

    from dta_edge.models.tiny import corpus_problems

    plain = corpus_problems(TinyModelConfig(corpus_problems=440))
    focused = corpus_problems(
        TinyModelConfig(
            corpus_problems=440, corpus_focus_families=("link-budget",), corpus_focus_fraction=0.5
        )
    )
    assert len(plain) == len(focused) == 440
    assert Counter(p.family for p in plain)["link-budget"] == 20
    assert Counter(p.family for p in focused)["link-budget"] == 220 + 10
    with pytest.raises(ValueError, match="unknown families"):
        TinyModelConfig(corpus_focus_families=("nope",))

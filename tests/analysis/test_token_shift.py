"""Token shift on constructed cases: identical models gain nothing; a raised logit is found."""

import json
from collections import Counter

import numpy as np
import pytest

from dta_edge.analysis.inputs import LoadedModel, load_model, read_pairs
from dta_edge.analysis.token_shift import (
    WHITESPACE,
    Lexicon,
    analyze_token_shift,
    tokenize_pairs,
    word_of_each_token,
)
from dta_edge.config import load_config

from ..conftest import REPO, run_dta

LEXICON = Lexicon(
    classes={"logical": ("therefore", "thus"), "domain": ("power", "bandwidth")},
    patterns={"numbers_symbols": r"[\d.,]+|[^A-Za-z]+"},
)


def test_tokens_are_credited_to_the_word_they_start_in():
    text = "Therefore,  P = 10.5 dBm\n\\frac"
    #        Ther|efore|,|  P| =| 10|.5| dBm|\n|\frac
    offsets = [(0, 4), (4, 9), (9, 10), (10, 13), (13, 15), (15, 18), (18, 20), (20, 24),
               (24, 25), (25, 30)]  # fmt: skip
    words = word_of_each_token(text, offsets)
    assert [w for w, _ in words] == ["therefore", "therefore", ",", "p", "=", "10.5", "10.5",
                                     "dbm", WHITESPACE, "\\frac"]  # fmt: skip
    assert words[0][1] == words[1][1]  # one occurrence split over two tokens
    assert LEXICON.classify("therefore") == "logical"
    assert LEXICON.classify("10.5") == LEXICON.classify("=") == "numbers_symbols"
    assert LEXICON.classify("antenna") == "other"


def test_shipped_lexicon_classes_the_paper_words():
    lexicon = load_config(REPO / "analysis" / "lexicon.yaml", Lexicon)
    assert lexicon.classify("therefore") == lexicon.classify("substituting") == "logical_discourse"
    assert lexicon.classify("bandwidth") == "domain_nouns"
    assert lexicon.classify("3.5") == lexicon.classify("\\log") == "numbers_symbols"


@pytest.fixture(scope="module")
def base_lm(tiny_model_dir):
    return load_model("base", str(tiny_model_dir), device="cpu")


def frequent_word_token(lm, pairs):
    """The most frequent solution token that is a whole alphabetic word of 4+ letters."""
    counts = Counter()
    for item in tokenize_pairs(lm.tokenizer, pairs):
        for token, (start, end) in zip(item.solution_ids, item.offsets, strict=True):
            piece = item.solution[start:end]
            before = item.solution[start - 1 : start] if start else " "
            after = item.solution[end : end + 1] or " "
            if (
                piece.strip().isalpha()
                and len(piece.strip()) >= 4
                and not (before.isalpha() and piece[0].isalpha())
                and not after.isalpha()
            ):
                counts[(token, piece.strip().lower())] += 1
    return counts.most_common(1)[0][0]


def test_identical_models_shift_nothing(base_lm, tiny_model_dir, held_out, tmp_path):
    twin = load_model("twin", str(tiny_model_dir), device="cpu")
    path = analyze_token_shift(base_lm, [twin], read_pairs(held_out, 8), LEXICON, tmp_path)
    result = json.loads(path.read_text())["models"]["twin"]
    assert result["mean_gain_per_token"] == 0.0
    assert all(w["gain"] == 0.0 for w in result["top_gainers"] + result["top_losers"])
    assert result["word_cloud"] is None  # nothing gained, nothing to draw


def test_raised_logit_is_the_top_gainer(base_lm, held_out, tmp_path):
    import copy

    import torch

    pairs = read_pairs(held_out, 12)
    token, word = frequent_word_token(base_lm, pairs)
    raised = copy.deepcopy(base_lm.model)

    def add_to_logit(_module, _inputs, logits):
        bumped = logits.clone()
        bumped[..., token] += 3.0
        return bumped

    raised.lm_head.register_forward_hook(add_to_logit)
    tuned = LoadedModel("raised", raised, base_lm.tokenizer, "cpu")
    lexicon = Lexicon(classes={"chosen": (word,)}, patterns={"numbers_symbols": r"[^A-Za-z]+"})
    with torch.no_grad():
        path = analyze_token_shift(base_lm, [tuned], pairs, lexicon, tmp_path, top=5)
    result = json.loads(path.read_text())["models"]["raised"]
    assert result["top_gainers"][0]["word"] == word
    assert result["top_gainers"][0]["gain"] > 0
    assert all(w["gain"] <= 0 for w in result["top_gainers"][1:])  # every other token lost mass
    shares = {c["class"]: c for c in result["classes"]}
    assert shares["chosen"]["share_of_positive_gain"] == pytest.approx(1.0)
    assert (tmp_path / "token_shift_raised.png").stat().st_size > 1000


def test_batched_and_single_scores_agree(base_lm, held_out):
    from dta_edge.analysis.token_shift import solution_logprobs

    items = tokenize_pairs(base_lm.tokenizer, read_pairs(held_out, 6))
    batched = solution_logprobs(base_lm, items, batch_size=6)
    single = solution_logprobs(base_lm, items, batch_size=1)
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.slow
def test_cli_on_an_adapter_writes_json_and_word_cloud(tiny_model_dir, lora_adapter, held_out,
                                                     tmp_path):  # fmt: skip
    out = tmp_path / "shift"
    result = run_dta("analyze", "token-shift", "--base", str(tiny_model_dir),
                     "--tuned", f"lora={lora_adapter}", "--data", str(held_out), "--limit", "6",
                     "--out", str(out), "--device", "cpu")  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads((out / "token_shift.json").read_text())
    model = payload["models"]["lora"]
    assert payload["solutions"] == 6
    shares = [c["share_of_positive_gain"] for c in model["classes"]]
    assert sum(shares) == pytest.approx(1.0)
    assert (out / model["word_cloud"]).exists()
    assert "lora" in result.stdout and "of the positive gain" in result.stdout


def test_data_without_solutions_names_file_and_line(tiny_model_dir, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"question": "q1", "solution": "s"}\n{"question": "q2"}\n')
    result = run_dta("analyze", "token-shift", "--base", str(tiny_model_dir), "--tuned",
                     f"t={tiny_model_dir}", "--data", str(data),
                     "--out", str(tmp_path / "o"))  # fmt: skip
    assert result.returncode == 2
    assert f"{data}:2" in result.stderr and "solution" in result.stderr

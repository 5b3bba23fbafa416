"""Parity of an export with its source model: tokenization, greedy tokens, top-1 agreement.

These are the numbers a manifest records and `make test` asserts; both call the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dta_edge.export.streamed_reference import KnownArgmax
from dta_edge.models.gguf_file import load_gguf
from dta_edge.models.weights import Weights


def tokenization_mismatches(
    gguf_path: Path, model_dir: Path, texts: Sequence[str], *, special_tokens: bool = False
) -> list[str]:
    """The texts whose llama.cpp token ids differ from the HF tokenizer's.

    With ``special_tokens`` both sides add what their tokenizer adds to a text on its own
    (transformers' post-processor, llama.cpp's add_bos/add_eos flags): a Llama-3 GGUF that lost
    its BOS tokenizes plain text identically and fails only this comparison.
    """
    return tokenization_parity(gguf_path, model_dir, texts, modes=(special_tokens,))[0]


def tokenization_parity(
    gguf_path: Path, model_dir: Path, texts: Sequence[str], modes: Sequence[bool] = (False, True)
) -> list[list[str]]:
    """Mismatching texts per mode (without, with special tokens), loading each tokenizer once."""
    from dta_edge.models.hf_load import load_tokenizer

    hf = load_tokenizer(model_dir)
    llm = load_gguf(gguf_path, vocab_only=True)
    return [
        [
            text
            for text in texts
            if llm.tokenize(text.encode(), add_bos=special, special=True)
            != hf.encode(text, add_special_tokens=special)
        ]
        for special in modes
    ]


def hf_greedy_tokens(
    model_dir: Path, prompts: Sequence[str], max_new_tokens: int = 64, stop_at_eos: bool = False
) -> list[list[int]]:
    """Greedy continuation token ids from transformers in fp32 (EOS stops it only if asked)."""
    import torch

    from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, dtype=torch.float32).eval()
    outputs = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            stop = {} if stop_at_eos else {"eos_token_id": None}
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, **stop)
        outputs.append(out[0, ids["input_ids"].shape[1] :].tolist())
    return outputs


def gguf_greedy_tokens(
    path: Path, prompts: Sequence[str], max_new_tokens: int = 64
) -> list[list[int]]:
    """Greedy continuation token ids from llama.cpp (top-k 1, no repetition penalty)."""
    llm = load_gguf(path)
    outputs = []
    for prompt in prompts:
        llm.reset()
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        generated: list[int] = []
        for token in llm.generate(tokens, top_k=1, temp=0.0, repeat_penalty=1.0):
            generated.append(token)
            if len(generated) == max_new_tokens:
                break
        outputs.append(generated)
    return outputs


FLOAT_TIE = 0.01  # logits closer than this are a tie that float summation order may flip


def greedy_divergences(
    model_dir: Path, prompts: Sequence[str], produced: Sequence[Sequence[int]],
    expected: Sequence[Sequence[int]],
) -> list[dict]:  # fmt: skip
    """Where a runtime's greedy tokens first leave transformers', and how close that call was.

    Returns one entry per differing prompt: its index, the position, both tokens, and the gap
    between their transformers fp32 logits there. A gap under FLOAT_TIE is a near-tie that a
    different summation order (SIMD width, thread split) may flip on another CPU; a larger one is
    a real conversion error.
    """
    import torch

    from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

    differing = [i for i, (a, b) in enumerate(zip(produced, expected, strict=True)) if a != b]
    if not differing:
        return []
    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, dtype=torch.float32).eval()
    found = []
    for index in differing:
        mine, theirs = produced[index], expected[index]
        shorter = min(len(mine), len(theirs))
        position = next((i for i in range(shorter) if mine[i] != theirs[i]), shorter)
        if position == shorter:  # one stopped early: not a near-tie
            found.append({"prompt": index, "position": position, "gap": float("inf")})
            continue
        ids = tokenizer(prompts[index], add_special_tokens=False)["input_ids"] + theirs[:position]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        gap = float(logits[theirs[position]] - logits[mine[position]])
        found.append({"prompt": index, "position": position, "runtime_token": mine[position],
                      "transformers_token": theirs[position], "gap": gap})  # fmt: skip
    return found


def gguf_top1_agreement(
    path: Path, source: Path | Weights, texts: Sequence[str], max_positions: int | None = None,
    on_layer=None, known: KnownArgmax | None = None,
) -> float:  # fmt: skip
    """Share of teacher-forced positions where llama.cpp's argmax equals transformers' fp32 one.

    Texts are tokenized as the model sees them (with its own special tokens) and cut to
    ``max_positions``; the reference is the whole model, or one layer at a time when the
    checkpoint would not fit in memory in float32 (export/streamed_reference), unless
    ``known`` already holds it.
    """
    import numpy as np

    from dta_edge.export.streamed_reference import parity_ids, reference_argmax
    from dta_edge.models.hf_load import load_tokenizer

    tokenizer = load_tokenizer(source if isinstance(source, Path) else source.folder)
    id_lists = parity_ids(tokenizer, texts, max_positions)
    reference = reference_argmax(source, id_lists, on_layer=on_layer, known=known)
    llm = load_gguf(path, logits_all=True, n_ctx=max(len(ids) for ids in id_lists) + 8)
    agree = total = 0
    for ids, expected in zip(id_lists, reference, strict=True):
        llm.reset()
        llm.eval(ids)
        ours = np.asarray(llm.scores[: len(ids)]).argmax(-1)
        agree += int((ours == np.asarray(expected)).sum())
        total += len(ids)
    return agree / total


def max_logit_diff(model_a, model_b, tokenizer, texts: Sequence[str]) -> float:
    """Max absolute logit difference between two loaded causal LMs over ``texts``."""
    import torch

    worst = 0.0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
            worst = max(worst, (model_a(ids).logits - model_b(ids).logits).abs().max().item())
    return worst


def hf_max_logit_diff(
    source_dir: Path | Weights, exported_dir: Path, texts: Sequence[str]
) -> float:
    """Max absolute fp32 logit difference between the source and an exported folder."""
    import torch

    from dta_edge.export.streamed_reference import whole_model
    from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

    folder = source_dir if isinstance(source_dir, Path) else source_dir.folder
    tokenizer = load_tokenizer(folder)
    source = whole_model(source_dir)
    exported = load_causal_lm(exported_dir, dtype=torch.float32).eval()
    return max_logit_diff(source, exported, tokenizer, texts)

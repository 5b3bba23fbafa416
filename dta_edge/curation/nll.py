"""The alignment signal: the student's mean negative log-likelihood per token of a solution.

A solution is scored as the assistant turn that follows the problem under the student's own chat
template with thinking off, exactly as SFT will train on it (solution + end-of-turn token).
Lower NLL = closer to what the student would write itself. Two runtimes give the same number:
transformers (batched, CPU or GPU) and llama.cpp (for GGUF students).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from dta_edge.models.chat import IM_END, student_prompt

Pair = tuple[str, str]  # (user prompt, assistant solution)


class NllScorer(Protocol):
    """Mean NLL per solution token, one number per (prompt, solution) pair."""

    def nll_per_token(self, pairs: Sequence[Pair]) -> list[float]:
        """Score every pair."""
        ...


class TransformersNll:
    """Batched teacher-forced scoring with transformers; right padding, solution tokens only."""

    def __init__(self, model_dir: str, device: str = "auto", batch_size: int = 8) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()

    def _ids(self, pair: Pair) -> tuple[list[int], list[int]]:
        encode = lambda text: self.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
        prompt = encode(student_prompt(self.tokenizer.chat_template, pair[0]))
        return prompt, encode(pair[1] + IM_END)

    def nll_per_token(self, pairs: Sequence[Pair]) -> list[float]:
        """Score in batches of similar length (sorted, so padding stays small)."""
        import torch

        encoded = [self._ids(pair) for pair in pairs]
        order = sorted(range(len(pairs)), key=lambda i: sum(map(len, encoded[i])))
        results = [0.0] * len(pairs)
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            rows = [encoded[i][0] + encoded[i][1] for i in batch]
            width = max(map(len, rows))
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            labels = torch.full((len(rows), width), -100, dtype=torch.long)
            for row, i in enumerate(batch):
                prompt, solution = encoded[i]
                full = prompt + solution
                ids[row, : len(full)] = torch.tensor(full)
                mask[row, : len(full)] = 1
                labels[row, len(prompt) : len(full)] = torch.tensor(solution)
            with torch.no_grad():
                logits = self.model(ids.to(self.device), attention_mask=mask.to(self.device)).logits
            logits = logits[:, :-1].float()
            targets = labels[:, 1:].to(self.device)
            losses = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), targets, ignore_index=-100, reduction="none"
            )
            counts = (targets != -100).sum(dim=1)
            for row, i in enumerate(batch):
                results[i] = float(losses[row].sum() / counts[row])
        return results


class LlamaCppNll:
    """The same score from llama.cpp logits (GGUF students), one sequence at a time."""

    def __init__(self, gguf: str, n_threads: int | None = None) -> None:
        from dta_edge.models.gguf_file import load_gguf

        self.llm = load_gguf(Path(gguf), logits_all=True, n_ctx=0, n_threads=n_threads)
        self.template = self.llm.metadata["tokenizer.chat_template"]

    def nll_per_token(self, pairs: Sequence[Pair]) -> list[float]:
        """Evaluate prompt + solution; log-softmax over the solution positions."""
        import numpy as np

        results = []
        for user, solution in pairs:
            tokenize = lambda text: self.llm.tokenize(  # noqa: E731
                text.encode(), add_bos=False, special=True
            )
            prompt = tokenize(student_prompt(self.template, user))
            answer = tokenize(solution + IM_END)
            self.llm.reset()
            self.llm.eval(prompt + answer)
            logits = np.asarray(self.llm.scores[: len(prompt) + len(answer)], dtype=np.float64)
            rows = logits[len(prompt) - 1 : -1]
            peak = rows.max(axis=1, keepdims=True)
            log_z = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
            picked = rows[np.arange(len(answer)), answer]
            results.append(float((log_z - picked).mean()))
        return results


def open_scorer(kind: str, model: str, device: str = "auto", batch_size: int = 8) -> NllScorer:
    """The scorer a recipe names."""
    if kind == "llama-cpp":
        return LlamaCppNll(model)
    return TransformersNll(model, device, batch_size)

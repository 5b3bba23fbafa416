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

from dta_edge.models.chat import IM_END, ChatTemplate, student_prompt

Pair = tuple[str, str]  # (user prompt, assistant solution)


class NllScorer(Protocol):
    """Mean NLL per solution token, one number per (prompt, solution) pair."""

    def nll_per_token(self, pairs: Sequence[Pair]) -> list[float]:
        """Score every pair."""
        ...


class TransformersNll:
    """Batched teacher-forced scoring with transformers; right padding, solution tokens only."""

    def __init__(
        self, model_dir: str, device: str = "auto", batch_size: int = 8,
        device_map: str | None = None,
    ) -> None:  # fmt: skip
        """Load the student.

        Args:
            model_dir: the student's transformers folder (or hub id).
            device: where the whole model goes ("auto": cuda when present).
            batch_size: sequences per forward pass.
            device_map: "auto" spreads the layers over every GPU of this machine (a student
                larger than one GPU); inputs then go to the device of its embeddings.
        """
        import torch

        from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device == "cuda" or device_map else torch.float32
        if device_map and not torch.cuda.is_available():
            dtype = torch.float32
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(model_dir)
        if device_map:
            self.model = load_causal_lm(model_dir, dtype=dtype, device_map=device_map).eval()
            self.device = str(self.model.get_input_embeddings().weight.device)
        else:
            self.model = load_causal_lm(model_dir, dtype=dtype).to(device).eval()
            self.device = device

    def _ids(self, pair: Pair) -> tuple[list[int], list[int]]:
        encode = lambda text: self.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
        if getattr(self, "_template", None) is None:
            origin = (
                f"the chat template of {getattr(self.tokenizer, 'name_or_path', 'the student')}"
            )
            self._template = ChatTemplate(self.tokenizer.chat_template, origin)
        prompt = encode(student_prompt(self._template, pair[0]))
        return prompt, encode(pair[1] + IM_END)

    def nll_per_token(self, pairs: Sequence[Pair]) -> list[float]:
        """Mean NLL per token of each solution (and its end token), teacher-forced, batched."""
        from dta_edge.models.teacher_forcing import target_logprobs

        encoded = [self._ids(pair) for pair in pairs]
        pad = self.tokenizer.pad_token_id or 0
        logprobs = target_logprobs(self.model, self.device, encoded, pad, self.batch_size)
        return [float(-values.mean()) for values in logprobs]


class LlamaCppNll:
    """The same score from llama.cpp logits (GGUF students), one sequence at a time."""

    def __init__(self, gguf: str, n_threads: int | None = None) -> None:
        from dta_edge.models.gguf_file import load_gguf

        self.llm = load_gguf(Path(gguf), logits_all=True, n_ctx=0, n_threads=n_threads)
        self.template = ChatTemplate(
            self.llm.metadata.get("tokenizer.chat_template"), f"the chat template of {gguf}"
        )

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


def open_scorer(
    kind: str, model: str, device: str = "auto", batch_size: int = 8, *,
    device_map: str | None = None, options: dict | None = None,
) -> NllScorer:  # fmt: skip
    """The scorer a recipe names (``options``: the openai scorer's backend options)."""
    if kind == "llama-cpp":
        return LlamaCppNll(model)
    if kind == "openai":
        from dta_edge.curation.served_nll import ServedNll

        return ServedNll(model, options or {})
    return TransformersNll(model, device, batch_size, device_map)

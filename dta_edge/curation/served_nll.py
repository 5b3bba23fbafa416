"""The student's NLL from a server: prompt log-probabilities over an OpenAI-compatible API.

A 32B student does not fit one GPU, and nothing in-process scales past one machine; a served
student does (vLLM with tensor parallelism, several replicas). The completions endpoint with
``echo`` and ``logprobs`` returns the log-probability of every prompt token; the text sent is the
student prompt followed by the solution and its end-of-turn token, exactly what the local
scorers score, and the solution's tokens are picked by their character offsets. Requests go
through the openai backend: the same endpoint fan-out, retries and response bounds as the
teachers. vLLM answers this as is; llama-cpp-python's server needs ``--logits_all true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dta_edge.backends.openai_backend import ServerError
from dta_edge.models.chat import IM_END, student_prompt

Pair = tuple[str, str]


def solution_nll(answer: dict, start: int, end: int, where: str) -> float:
    """Mean negative log-probability of the tokens whose text lies in ``[start, end)``.

    Raises:
        ServerError: the answer carries no prompt log-probabilities, or none in that span.
    """
    try:
        logprobs = answer["choices"][0]["logprobs"]
        offsets, values = logprobs["text_offset"], logprobs["token_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise ServerError(
            f"{where}: no prompt log-probabilities in the answer; the server must support "
            "echo with logprobs (llama.cpp's Python server: --logits_all true)"
        ) from None
    picked = [v for offset, v in zip(offsets, values, strict=False)
              if start <= offset < end and v is not None]  # fmt: skip
    if not picked:
        raise ServerError(f"{where}: the answer's log-probabilities do not cover the solution")
    return -sum(picked) / len(picked)


class ServedNll:
    """Mean NLL per solution token, asked of a served student (the ``openai`` scorer)."""

    def __init__(self, model: str, options: dict[str, Any]) -> None:
        """Open the endpoints (the student's chat template renders the prompt here).

        Args:
            model: the name the server serves the student under.
            options: openai backend options (base_url, api_key_env, chat_template, concurrency,
                retries, ...); ``api`` is always completions.

        Raises:
            ConfigError: invalid options, or no chat_template (a .jinja file or a tokenizer
                folder holding the student's template).
        """
        from dta_edge.backends.registry import create_generator

        self.generator = create_generator("openai", model, {**options, "api": "completions"})
        self.template = self.generator.compiled_template()
        urls = self.generator.options.base_url
        self.workers = self.generator.options.concurrency * (1 if isinstance(urls, str)
                                                              else len(urls))  # fmt: skip

    def _one(self, pair: Pair) -> float:
        prompt = student_prompt(self.template, pair[0])
        text = prompt + pair[1] + IM_END
        body = {"prompt": text, "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0.0}
        answer = self.generator.post_json("completions", body)
        return solution_nll(answer, len(prompt), len(text), self.generator.model)

    def nll_per_token(self, pairs: Sequence[Pair]) -> list[float]:
        """Score every pair, ``concurrency`` per endpoint at a time."""
        if self.workers == 1 or len(pairs) == 1:
            return [self._one(pair) for pair in pairs]
        with ThreadPoolExecutor(min(self.workers, len(pairs))) as pool:
            return list(pool.map(self._one, pairs))

    def close(self) -> None:
        """Let the endpoints go."""
        self.generator.close()

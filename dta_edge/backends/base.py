"""The Generator protocol every backend implements, and the prompt-completion core they share.

A bench, a teacher and a judge all ask the same thing of a model: these chat messages, these
sampling settings, thinking on or off; give back the answer, the reasoning apart from it, token
counts and timings. Backends that complete raw text (transformers, llama.cpp, ONNX Runtime, an
OpenAI-compatible /v1/completions endpoint) subclass :class:`PromptBackend`, which renders the chat
template once for all of them and enforces a thinking-token budget the same way everywhere.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from collections.abc import Generator as Generator_
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.models.chat import THINK_CLOSE, THINK_OPEN, ChatTemplate, render_chat
from dta_edge.records import ChatMessage

Result = TypeVar("Result")

END_MARKERS = ("<|im_end|>", "<|endoftext|>")
# Qwen3's recipe when the budget runs out: close the block and let the model answer.
BUDGET_CLOSE = f"\n{THINK_CLOSE}\n\n"


class SamplingSettings(FrozenModel):
    """Explicit sampling: nothing is left to a backend's defaults."""

    temperature: float = Field(default=0.0, ge=0.0, description="0 means greedy.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=512, ge=1, description="Output tokens, thinking included.")
    n: int = Field(default=1, ge=1, description="Samples per request.")
    seed: int = Field(default=0, description="Sample i uses seed + i.")


class GenerationRequest(FrozenModel):
    """One question to a model."""

    messages: tuple[ChatMessage, ...]
    sampling: SamplingSettings = SamplingSettings()
    thinking: bool = False
    thinking_budget: int | None = Field(
        default=None, ge=1, description="Max thinking tokens before the block is closed."
    )
    json_schema: dict | None = Field(
        default=None,
        description="Constrain the answer to this JSON schema where the backend can (llama.cpp "
        "grammar, server response_format); others get the prompt's instructions only.",
    )


class Generation(FrozenModel):
    """One sample's answer and what it cost."""

    text: str = Field(description="The answer, thinking removed.")
    reasoning: str | None = Field(default=None, description="Thinking text, if any.")
    prompt_tokens: int | None = Field(description="None when a server does not report it.")
    output_tokens: int = Field(description="All generated tokens, thinking included.")
    ttft_s: float | None = Field(description="Time to the first generated token.")
    e2e_s: float
    finish_reason: str = "stop"
    backend_timings: dict[str, float] = Field(
        default_factory=dict, description="The runtime's own timings (e.g. llama.cpp eval ms)."
    )

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Tokens after the first, over the time after the first (prefill excluded)."""
        if self.ttft_s is None or self.output_tokens < 2 or self.e2e_s <= self.ttft_s:
            return None
        return (self.output_tokens - 1) / (self.e2e_s - self.ttft_s)


@runtime_checkable
class Generator(Protocol):
    """What every backend offers; ``generate`` returns ``request.sampling.n`` samples."""

    name: str
    # what its model reference names: "folder" (a transformers folder or hub id), "gguf", "onnx"
    # (a GenAI folder) or "served" (a name on a server: thread-safe, concurrency per endpoint)
    model_kind: str

    def generate(self, request: GenerationRequest) -> list[Generation]:
        """Answer ``request``: one Generation per sample."""
        ...

    def close(self) -> None:
        """Release the model and its memory."""
        ...


@runtime_checkable
class AsyncGenerator(Protocol):
    """A served model's client that can also be driven from its own event loop.

    ``run`` executes a coroutine on the loop the client's connections and bounds live on; inside
    it, ``agenerate`` answers a request without a thread of its own. Phase I drives a whole
    teacher's requests this way (one coroutine per request in flight).
    """

    async def agenerate(self, request: GenerationRequest) -> list[Generation]:
        """``generate``, as a coroutine on the client's loop."""
        ...

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run ``coroutine`` on the client's loop and wait for it."""
        ...


def split_reasoning(text: str, *, thinking: bool) -> tuple[str, str | None]:
    """(answer, reasoning) from raw model text; thinking-on prompts leave ``<think>`` open.

    With thinking off the template has closed an empty block already, so only a text that opens
    a block itself is split; a ``</think>`` inside an answer (in a JSON string, say) stays put.
    """
    for marker in END_MARKERS:
        text = text.split(marker, 1)[0]
    opens = text.lstrip().startswith(THINK_OPEN)
    if (thinking or opens) and THINK_CLOSE in text:
        reasoning, answer = text.split(THINK_CLOSE, 1)
        return answer.strip(), reasoning.replace(THINK_OPEN, "", 1).strip()
    if thinking or opens:
        return "", text.replace(THINK_OPEN, "", 1).strip()  # ran out of tokens while thinking
    return text.strip(), None


class Completion(FrozenModel):
    """A raw text completion from a :class:`PromptBackend`."""

    text: str
    prompt_tokens: int | None = Field(description="None when a server does not report it.")
    output_tokens: int
    ttft_s: float | None
    e2e_s: float
    finish_reason: str
    backend_timings: dict[str, float] = Field(default_factory=dict)


class PromptBackend(ABC):
    """A backend that completes raw prompt text; chat rendering and budgets are shared here."""

    name: str = "prompt"

    @abstractmethod
    def chat_template(self) -> str:
        """The model's own Jinja chat template."""

    @abstractmethod
    def complete(
        self, prompt: str, sampling: SamplingSettings, seed: int, stop: Sequence[str]
    ) -> Completion:
        """Continue ``prompt`` (sampling.n is ignored: one sample, seeded with ``seed``)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model; the default has nothing to free."""

    def compiled_template(self) -> ChatTemplate:
        """The chat template, compiled on first use and kept by this backend."""
        compiled = getattr(self, "_compiled_template", None)
        if compiled is None:
            origin = getattr(self, "template_origin", f"the {self.name} backend's chat template")
            compiled = ChatTemplate(self.chat_template(), origin)
            self._compiled_template = compiled
        return compiled

    def generate(self, request: GenerationRequest) -> list[Generation]:
        """``request.sampling.n`` samples, issued one after another with seeds seed, seed+1, ..."""
        prompt = render_chat(self.compiled_template(), request.messages, thinking=request.thinking)
        return [
            self._one(prompt, request, request.sampling.seed + index)
            for index in range(request.sampling.n)
        ]

    def _one(self, prompt: str, request: GenerationRequest, seed: int) -> Generation:
        steps = budgeted_completion(prompt, request, seed)
        call = next(steps)
        while True:
            try:
                call = steps.send(self.complete(*call))
            except StopIteration as finished:
                return finished.value


CompletionCall = tuple[str, SamplingSettings, int, tuple[str, ...]]


def budgeted_completion(
    prompt: str, request: GenerationRequest, seed: int
) -> Generator_[CompletionCall, Completion, Generation]:
    """One sample under the thinking budget, as the completions it needs (sans I/O).

    Yields each ``complete`` call's arguments and is sent its Completion; returns the
    Generation. A blocking backend drives it with ``complete``, the async client with its
    coroutine, so both close an over-long thinking block the same way.
    """
    sampling = request.sampling
    budget = request.thinking_budget if request.thinking else None
    if budget is None or budget >= sampling.max_tokens:
        done = yield (prompt, sampling, seed, ())
        return _generation(done.text, done, request.thinking)
    started = time.perf_counter()
    thought = yield (
        prompt, sampling.model_copy(update={"max_tokens": budget}), seed, (THINK_CLOSE,)
    )  # fmt: skip
    if thought.text.endswith(THINK_CLOSE):
        head = thought.text  # closed within budget: the model goes on to answer
    elif thought.finish_reason == "length":
        head = thought.text + BUDGET_CLOSE  # budget spent: close the block for it
    else:
        return _generation(thought.text, thought, request.thinking)  # ended while thinking
    remaining = sampling.max_tokens - thought.output_tokens
    answer = yield (
        prompt + head, sampling.model_copy(update={"max_tokens": max(remaining, 1)}), seed, ()
    )  # fmt: skip
    merged = Completion(
        text=head + answer.text,
        prompt_tokens=thought.prompt_tokens,
        output_tokens=thought.output_tokens + answer.output_tokens,
        ttft_s=thought.ttft_s,
        e2e_s=time.perf_counter() - started,
        finish_reason=answer.finish_reason,
        backend_timings={
            k: thought.backend_timings.get(k, 0.0) + answer.backend_timings.get(k, 0.0)
            for k in {*thought.backend_timings, *answer.backend_timings}
        },
    )
    return _generation(merged.text, merged, request.thinking)


def _generation(raw: str, done: Completion, thinking: bool) -> Generation:
    answer, reasoning = split_reasoning(raw, thinking=thinking)
    return Generation(text=answer, reasoning=reasoning, **done.model_dump(exclude={"text"}))


Parsed = TypeVar("Parsed")


def ask_until_parsed(
    generator: Generator,
    messages: Sequence[ChatMessage],
    parse: Callable[[str], Parsed],
    *,
    retries: int,
    max_tokens: int,
    json_schema: dict | None = None,
    thinking: bool = False,
) -> tuple[Parsed | None, str]:
    """Ask until ``parse`` accepts the reply: greedy first, then sampled with other seeds.

    Judges reply in a fixed JSON format; a malformed reply is usually one bad sample, so asking
    again at temperature 0.7 recovers it. Returns (parsed, '') or (None, why the last one failed).
    """
    problem = "no reply"
    for attempt in range(retries + 1):
        request = GenerationRequest(
            messages=tuple(messages), thinking=thinking, json_schema=json_schema,
            sampling=SamplingSettings(max_tokens=max_tokens, seed=attempt,
                                      temperature=0.0 if attempt == 0 else 0.7),
        )  # fmt: skip
        try:
            return parse(generator.generate(request)[0].text), ""
        except ValueError as exc:
            problem = str(exc)
    return None, f"malformed JSON after {retries + 1} tries ({problem})"


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string, keeping it (callers need to see ``</think>``)."""
    cuts = [(text.find(s), s) for s in stop if s in text]
    if not cuts:
        return text, False
    index, marker = min(cuts)
    return text[: index + len(marker)], True

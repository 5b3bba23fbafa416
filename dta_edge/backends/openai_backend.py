"""OpenAI-compatible servers: vLLM, llama.cpp's server, SGLang, hosted APIs.

Two ways in. ``api: chat`` sends messages to /chat/completions and lets the server apply the chat
template, with ``chat_template_kwargs.enable_thinking`` for Qwen3 and ``reasoning_content`` read
back where the server separates it. ``api: completions`` renders the template here and posts the
prompt to /completions: it works with servers that ignore ``chat_template_kwargs`` (llama.cpp's
Python server) and lets the shared thinking budget apply. Streaming measures TTFT; token counts
come from the server's ``usage`` (requested with ``stream_options.include_usage``), else from the
number of streamed chunks, which llama.cpp and vLLM send one per token.

Standard library HTTP only: no client package to pin against vLLM's. Requests run as coroutines
on one event loop per client (:meth:`OpenAIGenerator.run`); the blocking methods hand their
coroutine to that loop, and Phase I hands it a whole teacher's requests at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, Field
from typing_extensions import override

from dta_edge.backends.base import (
    Completion,
    Generation,
    GenerationRequest,
    PromptBackend,
    SamplingSettings,
    budgeted_completion,
    split_reasoning,
    truncate_at_stop,
)
from dta_edge.backends.event_loop import LoopThread
from dta_edge.backends.http_transport import (
    HttpClient,
    HttpStatus,
    Limits,
    Reply,
    TransportError,
)
from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError, DtaError
from dta_edge.secrets import check_endpoint_url

T = TypeVar("T")
EndpointUrl = Annotated[str, AfterValidator(check_endpoint_url)]


class ServerError(DtaError):
    """The server refused or broke off a request (after the retries, if it was retryable)."""


class _Retryable(Exception):
    """A failure worth another try: 429, 5xx, a timeout, a dropped connection, a cut stream."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIGenerator(PromptBackend):
    """Client of one or more OpenAI-compatible endpoints serving the same model."""

    name = "openai"
    model_kind = "served"  # a model a server serves: thread-safe, concurrency per endpoint

    class Options(FrozenModel):
        """Backend options, as a suite's `options:` mapping gives them."""

        base_url: EndpointUrl | tuple[EndpointUrl, ...] = Field(
            description="e.g. http://127.0.0.1:8000/v1; several spread requests round-robin. "
            "No key in it (user:key@, ?key=): name the key's variable in api_key_env."
        )
        api: Literal["chat", "completions"] = "chat"
        api_key_env: str | None = Field(
            default=None, description="Environment variable holding the API key (never the key)."
        )
        stream: bool = True
        chat_template: str | None = Field(
            default=None, description="api completions: a .jinja file or a tokenizer folder."
        )
        concurrency: int = Field(
            default=1, ge=1, description="Requests in flight per endpoint (and samples at once)."
        )
        timeout_s: float = Field(
            default=600.0, gt=0, description="One socket read (and the connect), per attempt."
        )
        request_timeout_s: float = Field(
            default=3600.0, gt=0,
            description="The whole request, per attempt: a server that keeps the answer "
            "coming past it (a never-ending stream, a byte at a time) is cut off and the "
            "request recorded as failed.",
        )  # fmt: skip
        max_response_mib: float = Field(
            default=64.0, gt=0, description="Largest answer read, streamed or not."
        )
        max_line_kib: float = Field(
            default=1024.0, gt=0, description="Longest line of an event stream."
        )
        retries: int = Field(default=4, ge=0, description="On 429, 5xx, timeouts, cut streams.")
        backoff_s: float = Field(default=0.5, ge=0, description="First retry delay; doubles.")
        backoff_max_s: float = Field(default=30.0, ge=0)
        json_format: Literal["json_schema", "json_object"] = Field(
            default="json_schema",
            description="How a JSON schema is sent: OpenAI/vLLM json_schema, or llama.cpp's "
            "Python server json_object with schema.",
        )
        extra_body: dict[str, Any] = Field(
            default_factory=dict, description="Sent as is (e.g. vLLM's top_k)."
        )

    def __init__(self, model: str, options: Options) -> None:
        self.model = model
        self.options = options
        urls = (options.base_url,) if isinstance(options.base_url, str) else options.base_url
        self._urls = itertools.cycle(tuple(u.rstrip("/") for u in urls))
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._random = random.Random()  # jitter only; never seeds anything else
        self._http = HttpClient(Limits(
            read_timeout_s=options.timeout_s, deadline_s=options.request_timeout_s,
            max_body_bytes=int(options.max_response_mib * 2**20),
            max_line_bytes=int(options.max_line_kib * 1024),
        ))  # fmt: skip
        self._loop = LoopThread(f"openai-{model}"[:15])
        self._template: str | None = None
        self._key: str | None = None
        if options.api_key_env:
            # Checked now, before any request: a missing key is a setup error, not a failed request.
            self._key = os.environ.get(options.api_key_env)
            if not self._key:
                raise ConfigError(
                    "openai options",
                    [f"api_key_env: the environment variable {options.api_key_env} is not set "
                     f"(export {options.api_key_env}=... before running)"],
                )  # fmt: skip
        if options.api == "completions":
            if not options.chat_template:
                raise ConfigError("openai options", ["api completions needs chat_template"])
            self._template = _read_template(Path(options.chat_template))
            self.template_origin = f"the chat template {options.chat_template}"

    @override
    def chat_template(self) -> str:
        if self._template is None:
            raise ConfigError("openai options", ["api chat renders the template on the server"])
        return self._template

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on this client's event loop (a thread of its own) and wait for it.

        Every request goes through that one loop, whichever thread asks: the per-endpoint
        bounds hold across callers, and a request in flight costs no thread.
        """
        return self._loop.run(coroutine)

    def generate(self, request: GenerationRequest) -> list[Generation]:
        """The n samples, ``concurrency`` at a time; chat or completions as configured."""
        return self.run(self.agenerate(request))

    async def agenerate(self, request: GenerationRequest) -> list[Generation]:
        """:meth:`generate` on this client's loop (inside :meth:`run`)."""
        if self.options.api == "chat" and request.thinking_budget is not None:
            raise ConfigError(
                "openai options",
                ["thinking_budget needs api: completions (or the server's own field in "
                 "extra_body)"],
            )  # fmt: skip
        if self.options.api == "completions":
            from dta_edge.models.chat import render_chat

            prompt = render_chat(
                self.compiled_template(), request.messages, thinking=request.thinking
            )
            one = lambda seed: self._budgeted(prompt, request, seed)  # noqa: E731
        else:
            one = lambda seed: self._chat(request, seed)  # noqa: E731
        seeds = [request.sampling.seed + i for i in range(request.sampling.n)]
        if len(seeds) == 1:
            return [await one(seeds[0])]
        return await _all([one(seed) for seed in seeds])

    async def _budgeted(self, prompt: str, request: GenerationRequest, seed: int) -> Generation:
        steps = budgeted_completion(prompt, request, seed)
        call = next(steps)
        while True:
            try:
                call = steps.send(await self.acomplete(*call))
            except StopIteration as finished:
                return finished.value

    @override
    def complete(
        self, prompt: str, sampling: SamplingSettings, seed: int, stop: Sequence[str]
    ) -> Completion:
        return self.run(self.acomplete(prompt, sampling, seed, stop))

    async def acomplete(
        self, prompt: str, sampling: SamplingSettings, seed: int, stop: Sequence[str]
    ) -> Completion:
        """:meth:`complete` on this client's loop."""
        body = {"prompt": prompt, **_sampling_body(sampling, seed)}
        if stop:
            body["stop"] = list(stop)
        started = time.perf_counter()
        result = await self._request("completions", body, started)
        text = result["text"]
        matched = result["stop_reason"]  # vLLM names the stop string that ended the text
        # Servers drop the stop string; keep it, as the other backends do, unless the server
        # says an end-of-sequence token rather than a stop string ended the text.
        dropped = result["finish_reason"] == "stop" and (matched is None or matched in stop)
        if stop and dropped and not truncate_at_stop(text, stop)[1]:
            text += matched if isinstance(matched, str) else stop[0]
        return Completion(text=text, **_measured(result, started))

    async def _chat(self, request: GenerationRequest, seed: int) -> Generation:
        body = {
            "messages": [m.model_dump(exclude_none=True) for m in request.messages],
            "chat_template_kwargs": {"enable_thinking": request.thinking},
            **_sampling_body(request.sampling, seed),
        }
        if request.json_schema is not None:
            body["response_format"] = (
                {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": request.json_schema},
                }
                if self.options.json_format == "json_schema"
                else {"type": "json_object", "schema": request.json_schema}
            )
        started = time.perf_counter()
        result = await self._request("chat/completions", body, started)
        answer, reasoning = split_reasoning(result["text"], thinking=request.thinking)
        if result["reasoning"]:
            reasoning = result["reasoning"].strip()
        return Generation(text=answer, reasoning=reasoning, **_measured(result, started))

    def post_json(self, path: str, body: dict) -> dict:
        """One non-streamed request (``path`` under base_url), its JSON answer as it came.

        Same endpoints, round robin, retries and bounds as generation: what prompt
        log-probabilities (the served NLL scorer) and other raw calls go through.
        """
        return self.run(
            self._request(path, {**body, "stream": False}, time.perf_counter(), raw=True)
        )

    async def _request(self, path: str, body: dict, started: float, *, raw: bool = False) -> dict:
        """POST with retries: exponential backoff with jitter, Retry-After honoured."""
        body = {"model": self.model, "stream": self.options.stream, **body}
        body.update(self.options.extra_body)
        if body["stream"]:
            body["stream_options"] = {"include_usage": True}
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            base = next(self._urls)
            url = f"{base}/{path}"
            try:
                async with self._slot(base):
                    result = await self._send(url, payload, headers, started, raw=raw)
                result["attempts"] = attempt + 1
                return result
            except _Retryable as exc:
                if attempt == attempts - 1:
                    raise ServerError(f"{url}: {exc} (gave up after {attempts} attempts)") from None
                delay = min(self.options.backoff_max_s, self.options.backoff_s * 2**attempt)
                delay = delay / 2 + self._random.uniform(0, delay / 2)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.options.backoff_max_s))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _slot(self, base: str) -> asyncio.Semaphore:
        """The endpoint's bound on requests in flight (made on the loop that uses it)."""
        slot = self._slots.get(base)
        if slot is None:
            slot = self._slots[base] = asyncio.Semaphore(self.options.concurrency)
        return slot

    async def _send(
        self, url: str, payload: bytes, headers: dict, started: float, *, raw: bool = False
    ) -> dict:
        try:
            reply = await self._http.post(url, payload, headers)
        except HttpStatus as exc:
            # Error bodies may echo the request, headers included: never store the key.
            detail = self._redact(exc.body.decode("utf-8", errors="replace"))[:300]
            if exc.code in RETRY_STATUS:
                after = exc.retry_after
                wait = float(after) if after and after.replace(".", "", 1).isdigit() else None
                raise _Retryable(f"HTTP {exc.code}: {detail}", wait) from None
            raise ServerError(f"{url}: HTTP {exc.code}: {detail}") from None
        except TransportError as exc:
            if exc.retryable:
                raise _Retryable(self._redact(str(exc))) from None
            raise ServerError(f"{url}: {self._redact(str(exc))}") from None
        try:
            if raw:
                answer = json.loads(await reply.body())
                if not isinstance(answer, dict):
                    raise TypeError("the answer is not a JSON object")
                return answer
            if not self.options.stream:
                return _parse_whole(json.loads(await reply.body()))
            return await _parse_stream(reply, started)
        except TransportError as exc:
            if exc.retryable:
                raise _Retryable(str(exc)) from None
            raise ServerError(f"{url}: {exc}") from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            message = self._redact(f"malformed response ({type(exc).__name__}: {exc})")
            raise _Retryable(message[:300]) from None
        finally:
            reply.close()

    def close(self) -> None:
        """Stop this client's event loop and its thread (a later call starts a fresh one)."""
        self._loop.close()
        self._slots = {}  # bound to the loop just closed
        self._http.close()

    def _redact(self, text: str) -> str:
        from dta_edge.secrets import redact

        return redact(text, (self._key,) if self._key else ())


async def _all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Every result, in order; on the first failure the others are cancelled, not left running."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _measured(result: dict, started: float) -> dict:
    """Token counts, timings and attempts of one reply, as Completion and Generation take them."""
    return {
        "prompt_tokens": result["prompt_tokens"],
        "output_tokens": result["output_tokens"],
        "ttft_s": result["ttft_s"],
        "e2e_s": time.perf_counter() - started,
        "finish_reason": result["finish_reason"],
        "backend_timings": {"http_attempts": float(result["attempts"])},
    }


def _sampling_body(sampling: SamplingSettings, seed: int) -> dict:
    return {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": seed,
    }


def _read_template(path: Path) -> str:
    if path.is_dir():
        for candidate in (path / "chat_template.jinja", path / "tokenizer_config.json"):
            if candidate.exists():
                path = candidate
                break
    if not path.exists():
        raise ConfigError(path, ["chat template not found (a .jinja file or a tokenizer folder)"])
    text = path.read_text(encoding="utf-8")
    return json.loads(text)["chat_template"] if path.suffix == ".json" else text


async def _next_event(reply: Reply) -> dict | None:
    """The next JSON payload of a server-sent event stream; None after ``[DONE]``.

    Raises:
        _Retryable: the stream ended without ``[DONE]`` (it was cut).
    """
    while raw := await reply.readline():
        line = raw.decode("utf-8").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return None
        return json.loads(data)
    raise _Retryable("stream ended before [DONE]")


def _no_text(tool_calls: bool) -> _Retryable:
    """An answer without text: a failure to ask again, never an empty success."""
    if tool_calls:
        return _Retryable("the server answered with a tool call, not text")
    return _Retryable("the answer has no content (content: null)")


async def _parse_stream(reply: Reply, started: float) -> dict:
    text, reasoning = [], []
    chunks = 0
    ttft = None
    usage: dict = {}
    finish = "stop"
    stop_reason = None
    choices_seen = 0
    has_content = tool_calls = False
    while (event := await _next_event(reply)) is not None:
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            choices_seen += 1
            delta = choice.get("delta") or {}
            content = delta.get("content") if "delta" in choice else choice.get("text")
            if isinstance(content, str):
                has_content = True
            tool_calls = tool_calls or bool(delta.get("tool_calls") or delta.get("function_call"))
            piece = content if isinstance(content, str) else ""
            thought = delta.get("reasoning_content") or delta.get("reasoning") or ""
            if piece or thought:
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - started
            text.append(piece)
            reasoning.append(thought)
            finish = choice.get("finish_reason") or finish
            stop_reason = choice.get("stop_reason", stop_reason)
    if not choices_seen:
        # Only usage, or nothing: a broken reply, not an empty answer; retried, then an error.
        raise ValueError("the stream held no choices")
    if tool_calls and not "".join(text).strip():
        raise _no_text(True)
    if not has_content and not "".join(reasoning):
        raise _no_text(False)
    return {
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "prompt_tokens": usage.get("prompt_tokens"),
        "output_tokens": usage.get("completion_tokens", chunks),
        "ttft_s": ttft,
        "finish_reason": finish,
        "stop_reason": stop_reason,
    }


def _parse_whole(payload: dict) -> dict:
    choice = payload["choices"][0]
    message = choice.get("message") or {}
    usage = payload.get("usage") or {}
    content = message.get("content") if "message" in choice else choice.get("text")
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    tool_calls = bool(message.get("tool_calls") or message.get("function_call"))
    if tool_calls and not (content or "").strip():
        raise _no_text(True)
    if not isinstance(content, str) and not reasoning:
        raise _no_text(False)
    return {
        "text": content if isinstance(content, str) else "",
        "reasoning": reasoning,
        "prompt_tokens": usage.get("prompt_tokens"),
        "output_tokens": usage.get("completion_tokens", 0),
        "ttft_s": None,
        "finish_reason": choice.get("finish_reason") or "stop",
        "stop_reason": choice.get("stop_reason"),
    }

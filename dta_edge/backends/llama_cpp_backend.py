"""llama.cpp backend, in process through llama-cpp-python, on a GGUF file.

Besides our own wall-clock TTFT and end-to-end time, each request records llama.cpp's own
prompt-eval and eval timings (``llama_perf_context``), so the harness overhead is visible.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from typing_extensions import override

from dta_edge.backends.base import (
    END_MARKERS,
    Completion,
    PromptBackend,
    SamplingSettings,
    truncate_at_stop,
)
from dta_edge.config import FrozenModel
from dta_edge.errors import ModelError

if TYPE_CHECKING:  # annotation only: profiles sit a floor above the backends
    from dta_edge.profiles import DeviceProfile


class LlamaCppGenerator(PromptBackend):
    """One GGUF model in llama.cpp; greedy (top-k 1) at temperature 0."""

    name = "llama-cpp"
    model_kind = "gguf"  # a GGUF file

    class Options(FrozenModel):
        """Backend options, as a suite's `options:` mapping gives them."""

        n_gpu_layers: int = Field(default=0, ge=-1, description="-1 offloads every layer.")
        n_threads: int | None = Field(default=None, ge=1, description="None: llama.cpp decides.")
        n_ctx: int = Field(default=0, ge=0, description="0: the model's trained context.")
        n_batch: int = Field(default=512, ge=1)
        prompt_cache: bool = Field(
            default=False,
            description="Reuse the KV cache of a shared prompt prefix between requests (faster; "
            "TTFT then no longer includes the whole prompt).",
        )

        @classmethod
        def profile_defaults(cls, profile: DeviceProfile) -> dict:
            """What a device profile sets unless a suite's options say otherwise."""
            return {"n_gpu_layers": profile.gpu_layers, "n_threads": profile.threads}

    def generate(self, request):  # noqa: D102 - adds the JSON grammar, then the shared path
        self._grammar = None
        if request.json_schema is not None:
            import json

            from llama_cpp import LlamaGrammar

            self._grammar = LlamaGrammar.from_json_schema(json.dumps(request.json_schema))
        return super().generate(request)

    def __init__(self, model: str, options: Options) -> None:
        self.template_origin = f"the chat template of {model}"
        from dta_edge.backends.device_truth import require_llama_gpu
        from dta_edge.models.gguf_file import load_gguf

        require_llama_gpu(options.n_gpu_layers)
        self.options = options
        self.llm = load_gguf(
            Path(model),
            n_gpu_layers=options.n_gpu_layers,
            n_threads=options.n_threads,
            n_ctx=options.n_ctx,
            n_batch=options.n_batch,
        )
        import llama_cpp

        layers = llama_cpp.llama_model_n_layer(self.llm.model) + 1  # blocks + the output layer
        wanted = options.n_gpu_layers
        offloaded = 0 if wanted == 0 else (layers if wanted < 0 else min(wanted, layers))
        self.placement = {"device": "cuda" if offloaded else "cpu", "offloaded_layers": offloaded}
        end_ids = {self.llm.token_eos()}
        for marker in END_MARKERS:
            ids = self.llm.tokenize(marker.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                end_ids.add(ids[0])
        self.end_ids = end_ids

    @override
    def chat_template(self) -> str:
        return self.llm.metadata.get("tokenizer.chat_template", "")

    @override
    def complete(
        self, prompt: str, sampling: SamplingSettings, seed: int, stop: Sequence[str]
    ) -> Completion:
        import llama_cpp

        started = time.perf_counter()
        ctx = self.llm._ctx.ctx
        llama_cpp.llama_perf_context_reset(ctx)
        if not self.options.prompt_cache:
            self.llm.reset()
        self.llm.set_seed(seed)
        tokens, room = self._prompt_tokens(prompt)
        greedy = sampling.temperature == 0
        generated: list[int] = []
        pieces = bytearray()
        first_token_at = None
        finish = "length"
        for token in self.llm.generate(
            tokens,
            top_k=1 if greedy else 0,
            top_p=1.0 if greedy else sampling.top_p,
            min_p=0.0,
            temp=0.0 if greedy else sampling.temperature,
            repeat_penalty=1.0,
            grammar=getattr(self, "_grammar", None),
        ):
            if first_token_at is None:
                first_token_at = time.perf_counter()
            generated.append(token)
            if token in self.end_ids:
                finish = "stop"
                break
            pieces += self.llm.detokenize([token], special=True)
            if stop and truncate_at_stop(pieces.decode("utf-8", errors="ignore"), stop)[1]:
                finish = "stop"
                break
            if len(generated) >= min(sampling.max_tokens, room):
                break  # the token budget, or the end of the context
        finished = time.perf_counter()
        perf = llama_cpp.llama_perf_context(ctx)
        text, _ = truncate_at_stop(pieces.decode("utf-8", errors="replace"), stop)
        return Completion(
            text=text,
            prompt_tokens=len(tokens),
            output_tokens=len(generated),
            ttft_s=None if first_token_at is None else first_token_at - started,
            e2e_s=finished - started,
            finish_reason=finish,
            backend_timings={
                "llama_prompt_eval_ms": perf.t_p_eval_ms,
                "llama_prompt_tokens": float(perf.n_p_eval),
                "llama_eval_ms": perf.t_eval_ms,
                "llama_eval_tokens": float(perf.n_eval),
            },
        )

    def _prompt_tokens(self, prompt: str) -> tuple[list[int], int]:
        """The prompt's tokens and the room left for the answer in the context."""
        tokens = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        room = self.llm.n_ctx() - len(tokens)
        if room < 1:
            raise ModelError(
                f"prompt of {len(tokens)} tokens does not fit the context of {self.llm.n_ctx()} "
                "(raise n_ctx, or shorten the prompt)"
            )
        return tokens, room

    @override
    def close(self) -> None:
        self.llm.close()

"""vLLM in process (optional extra `vllm`, GPU only).

vLLM pins its own torch and transformers, so it lives in its own environment; most set-ups are
better served by `vllm serve` and the `openai` backend, which measures TTFT by streaming. In process
there is no stream: TTFT comes from vLLM's own request metrics when it records them.
"""

from __future__ import annotations

import time

from pydantic import Field

from dta_edge.backends.base import Generation, GenerationRequest, split_reasoning
from dta_edge.config import FrozenModel
from dta_edge.errors import ConfigError, ModelError


class VllmGenerator:
    """vllm.LLM on one model; the n samples of a request go in one batched call."""

    name = "vllm"
    model_kind = "folder"  # a transformers folder or hub id

    class Options(FrozenModel):
        """Backend options, as a suite's `options:` mapping gives them."""

        tensor_parallel_size: int = Field(default=1, ge=1)
        gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
        max_model_len: int | None = Field(default=None, ge=64)
        dtype: str = "auto"
        quantization: str | None = None

    def __init__(self, model: str, options: Options) -> None:
        try:
            from vllm import LLM
        except ImportError:
            raise ModelError(
                "backend vllm needs vLLM (GPU): pip install 'dta-edge[vllm]' in its own "
                "environment, or run `vllm serve` and use backend openai"
            ) from None
        self.llm = LLM(
            model=model,
            tensor_parallel_size=options.tensor_parallel_size,
            gpu_memory_utilization=options.gpu_memory_utilization,
            max_model_len=options.max_model_len,
            dtype=options.dtype,
            quantization=options.quantization,
        )

    def generate(self, request: GenerationRequest) -> list[Generation]:
        """All n samples in one vLLM batch; e2e is the wall time of that batch."""
        from vllm import SamplingParams

        if request.thinking_budget is not None:
            raise ConfigError("vllm options", ["thinking_budget: use backend openai (completions)"])
        sampling = request.sampling
        params = [
            SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                seed=sampling.seed + index,
            )
            for index in range(sampling.n)
        ]
        messages = [[m.model_dump(exclude_none=True) for m in request.messages]] * sampling.n
        started = time.perf_counter()
        outputs = self.llm.chat(
            messages,
            params,
            chat_template_kwargs={"enable_thinking": request.thinking},
            use_tqdm=False,
        )
        wall = time.perf_counter() - started
        results = []
        for output in outputs:
            sample = output.outputs[0]
            answer, reasoning = split_reasoning(sample.text, thinking=request.thinking)
            metrics = getattr(output, "metrics", None)
            ttft = None
            if metrics is not None and getattr(metrics, "first_token_time", None):
                ttft = metrics.first_token_time - metrics.arrival_time
            results.append(
                Generation(
                    text=answer,
                    reasoning=reasoning,
                    prompt_tokens=len(output.prompt_token_ids or []),
                    output_tokens=len(sample.token_ids),
                    ttft_s=ttft,
                    e2e_s=wall,
                    finish_reason=sample.finish_reason or "stop",
                )
            )
        return results

    def close(self) -> None:
        """Drop the engine (and its GPU memory)."""
        del self.llm

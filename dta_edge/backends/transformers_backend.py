"""transformers backend: a local folder or hub id, streamed token by token for TTFT."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from typing_extensions import override

from dta_edge.backends.base import Completion, PromptBackend, SamplingSettings, truncate_at_stop
from dta_edge.config import FrozenModel
from dta_edge.errors import ModelError

if TYPE_CHECKING:  # annotation only: profiles sit a floor above the backends
    from dta_edge.profiles import DeviceProfile


class FirstTokenClock:
    """A generate() streamer that notes when the first new token arrives.

    transformers calls ``put`` once with the prompt, then once per generated token.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.first_token_at: float | None = None

    def put(self, value) -> None:
        """Count a call; the second is the first new token."""
        self.calls += 1
        if self.calls == 2:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        """Nothing to flush."""


class TransformersGenerator(PromptBackend):
    """Runs a causal LM with ``model.generate``; greedy at temperature 0."""

    name = "transformers"
    model_kind = "folder"  # a transformers folder or hub id

    class Options(FrozenModel):
        """Backend options, as a suite's `options:` mapping gives them."""

        device: Literal["auto", "cpu", "cuda"] = "auto"
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
            default="auto", description="auto: bfloat16 on CUDA, float32 on the CPU."
        )
        threads: int | None = Field(default=None, ge=1, description="torch CPU threads.")

        @classmethod
        def profile_defaults(cls, profile: DeviceProfile) -> dict:
            """What a device profile sets unless a suite's options say otherwise."""
            return {"device": profile.device, "threads": profile.threads}

    def __init__(self, model: str, options: Options) -> None:
        self.template_origin = f"the chat template of {model}"
        import torch

        from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

        if options.threads:
            torch.set_num_threads(options.threads)
        from dta_edge.backends.device_truth import require_torch_cuda

        device = options.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        require_torch_cuda(device)
        dtype = options.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device == "cuda" else "float32"
        looks_local = model.startswith((".", "/", "~")) or Path(model).exists()
        if looks_local and not (Path(model).expanduser() / "config.json").exists():
            raise ModelError(f"{model}: not a transformers model folder (no config.json)")
        self.device = device
        self.placement = {"device": device}
        self.tokenizer = load_tokenizer(model)
        self.model = load_causal_lm(model, dtype=getattr(torch, dtype))
        self.model.to(device).eval()
        self.end_ids = end_of_turn_ids(self.tokenizer, self.model.generation_config)

    @override
    def chat_template(self) -> str:
        return self.tokenizer.chat_template

    @override
    def complete(
        self, prompt: str, sampling: SamplingSettings, seed: int, stop: Sequence[str]
    ) -> Completion:
        import torch
        from transformers import GenerationConfig

        started = time.perf_counter()
        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        ids = ids.to(self.device)
        greedy = sampling.temperature == 0
        config = GenerationConfig(
            max_new_tokens=sampling.max_tokens,
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=None,
            eos_token_id=self.end_ids,
            pad_token_id=self.end_ids[0],
            stop_strings=list(stop) or None,
        )
        clock = FirstTokenClock()
        torch.manual_seed(seed)
        with torch.no_grad():
            output = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                generation_config=config,
                streamer=clock,
                tokenizer=self.tokenizer if stop else None,
            )
        new = output[0, ids.shape[1] :].tolist()
        finished = time.perf_counter()
        raw = self.tokenizer.decode(new, skip_special_tokens=False)
        text, stopped = truncate_at_stop(raw, stop)
        ended = bool(new) and new[-1] in self.end_ids
        return Completion(
            text=text,
            prompt_tokens=ids.shape[1],
            output_tokens=len(new),
            ttft_s=None if clock.first_token_at is None else clock.first_token_at - started,
            e2e_s=finished - started,
            finish_reason="stop" if (ended or stopped) else "length",
        )

    @override
    def close(self) -> None:
        del self.model


def end_of_turn_ids(tokenizer, generation_config) -> list[int]:
    """Every id that ends a reply, from all the places a download names them.

    generation_config.json's eos list (Llama-3: <|end_of_text|> and <|eot_id|>; Qwen3:
    <|im_end|> and <|endoftext|>), the tokenizer's eos, and Qwen's turn markers where the
    vocabulary has them.
    """
    configured = getattr(generation_config, "eos_token_id", None)
    ends = list(configured) if isinstance(configured, list | tuple) else [configured]
    ends.append(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    ends += [vocab.get(marker) for marker in ("<|im_end|>", "<|endoftext|>")]
    return sorted({i for i in ends if isinstance(i, int) and i >= 0})

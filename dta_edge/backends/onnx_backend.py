"""ONNX Runtime GenAI backend on a folder written by `dta export` (format onnx).

The prompt is tokenized with the folder's tokenizer.json (the same tokenizer transformers uses),
so token counts match the other backends exactly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from typing_extensions import override

from dta_edge.backends.base import Completion, PromptBackend, SamplingSettings, truncate_at_stop
from dta_edge.config import FrozenModel
from dta_edge.errors import ModelError


class OnnxGenerator(PromptBackend):
    """ONNX Runtime GenAI generation loop with KV cache; greedy at temperature 0."""

    name = "onnx"
    model_kind = "onnx"  # an ONNX Runtime GenAI folder

    class Options(FrozenModel):
        """Backend options, as a suite's `options:` mapping gives them."""

    def __init__(self, model: str, options: Options) -> None:
        self.template_origin = f"the chat template of {model}"
        import onnxruntime_genai as og
        from tokenizers import Tokenizer

        folder = Path(model)
        if (folder / "onnx" / "genai_config.json").exists():
            folder = folder / "onnx"  # an export folder: the graph sits in onnx/
        if not (folder / "genai_config.json").exists():
            raise ModelError(f"{model}: no genai_config.json; export it with a *-onnx-* target")
        from dta_edge.backends.device_truth import require_onnx_provider

        require_onnx_provider(folder)
        self.folder = folder
        self.model = og.Model(str(folder))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))

    @override
    def chat_template(self) -> str:
        template = self.folder / "chat_template.jinja"
        if template.exists():
            return template.read_text(encoding="utf-8")
        config = json.loads((self.folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        if not config.get("chat_template"):
            raise ModelError(f"{self.folder}: no chat template (chat_template.jinja)")
        return config["chat_template"]

    @override
    def complete(
        self, prompt: str, sampling: SamplingSettings, seed: int, stop: Sequence[str]
    ) -> Completion:
        import onnxruntime_genai as og

        started = time.perf_counter()
        ids = self.tokenizer.encode(prompt, add_special_tokens=False).ids
        params = og.GeneratorParams(self.model)
        greedy = sampling.temperature == 0
        options = {"max_length": len(ids) + sampling.max_tokens, "do_sample": not greedy}
        if not greedy:
            options.update(temperature=sampling.temperature, top_p=sampling.top_p, random_seed=seed)
        params.set_search_options(**options)
        generator = og.Generator(self.model, params)
        generator.append_tokens(list(ids))
        generated: list[int] = []
        first_token_at = None
        finish = "length"
        while not generator.is_done() and len(generated) < sampling.max_tokens:
            generator.generate_next_token()
            if first_token_at is None:
                first_token_at = time.perf_counter()
            generated.append(int(generator.get_next_tokens()[0]))
            if stop:
                text = self.tokenizer.decode(generated, skip_special_tokens=False)
                if truncate_at_stop(text, stop)[1]:
                    finish = "stop"
                    break
        if generator.is_done() and len(generated) < sampling.max_tokens:
            finish = "stop"  # an end-of-sequence token
        finished = time.perf_counter()
        text = self.tokenizer.decode(generated, skip_special_tokens=False)
        return Completion(
            text=truncate_at_stop(text, stop)[0],
            prompt_tokens=len(ids),
            output_tokens=len(generated),
            ttft_s=None if first_token_at is None else first_token_at - started,
            e2e_s=finished - started,
            finish_reason=finish,
        )

    @override
    def close(self) -> None:
        del self.model

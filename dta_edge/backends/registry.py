"""Backend registry: name -> "module:Class". Adding a backend is one module and one line here.

Classes are imported only when asked for, so a CPU install never imports vLLM or CUDA runtimes.
Every backend class takes ``(model, options)`` where ``options`` is its own frozen ``Options``
model, so a misspelt option fails with the key's name instead of being ignored.
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import Any

from pydantic import ValidationError

from dta_edge.backends.base import Generator
from dta_edge.errors import ConfigError

BACKENDS: dict[str, str] = {
    "transformers": "dta_edge.backends.transformers_backend:TransformersGenerator",
    "llama-cpp": "dta_edge.backends.llama_cpp_backend:LlamaCppGenerator",
    "onnx": "dta_edge.backends.onnx_backend:OnnxGenerator",
    "openai": "dta_edge.backends.openai_backend:OpenAIGenerator",
    "vllm": "dta_edge.backends.vllm_backend:VllmGenerator",
}


def backend_class(name: str) -> type:
    """The class registered under ``name``."""
    if name not in BACKENDS:
        raise ConfigError(name, [f"unknown backend '{name}'; known: {', '.join(BACKENDS)}"])
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(import_module(module), attribute)


def create_generator(name: str, model: str, options: dict[str, Any] | None = None) -> Generator:
    """Build a backend; its options are validated against the backend's own Options model."""
    cls = backend_class(name)
    try:
        parsed = cls.Options.model_validate_json(json.dumps(options or {}))  # as YAML configs
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"backend {name} options", problems) from None
    return cls(model, parsed)

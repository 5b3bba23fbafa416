"""Backend registry: name -> "module:Class". Adding a backend is one module and one line here.

Classes are imported only when asked for, so a CPU install never imports vLLM or CUDA runtimes.
Every backend class takes ``(model, options)`` where ``options`` is its own frozen ``Options``
model, so a misspelt option fails with the key's name instead of being ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import import_module
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, ValidationError

from dta_edge.backends.base import Generator
from dta_edge.errors import ConfigError
from dta_edge.models.references import ModelResolver, resolve_model

BACKENDS: dict[str, str] = {
    "transformers": "dta_edge.backends.transformers_backend:TransformersGenerator",
    "llama-cpp": "dta_edge.backends.llama_cpp_backend:LlamaCppGenerator",
    "onnx": "dta_edge.backends.onnx_backend:OnnxGenerator",
    "openai": "dta_edge.backends.openai_backend:OpenAIGenerator",
    "vllm": "dta_edge.backends.vllm_backend:VllmGenerator",
}


def known_backend(name: str) -> str:
    """Validator of every config field naming a backend: the registry is the one list of names."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend '{name}'; known: {', '.join(BACKENDS)}")
    return name


BackendName = Annotated[str, AfterValidator(known_backend)]


def backend_class(name: str) -> type:
    """The class registered under ``name``."""
    if name not in BACKENDS:
        raise ConfigError(name, [f"unknown backend '{name}'; known: {', '.join(BACKENDS)}"])
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(import_module(module), attribute)


class GeneratorSpec(Protocol):
    """What names a model to open: a recipe's ModelSpec, a suite's SystemSpec, or :class:`Spec`."""

    backend: str
    model: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Spec:
    """A model named on the command line (a judge, say) rather than in a recipe."""

    backend: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)


def open_generator(
    spec: GeneratorSpec,
    resolve: ModelResolver = resolve_model,
    options: dict[str, Any] | None = None,
) -> Generator:
    """The one way bench, curation, analysis and the demo open a model.

    Args:
        spec: backend, model reference and the recipe's options.
        resolve: turns the reference into a path or served name (``embedded:tiny@T`` needs an
            exporting resolver, handed down from the CLI or the demo).
        options: the options to use instead of ``spec.options`` (a profile's defaults merged
            with the suite's, say).
    """
    return create_generator(spec.backend, resolve(spec.model), spec.options if options is None
                            else options)  # fmt: skip


def create_generator(name: str, model: str, options: dict[str, Any] | None = None) -> Generator:
    """Build a backend; its options are validated against the backend's own Options model."""
    cls = backend_class(name)
    try:
        parsed = cls.Options.model_validate_json(json.dumps(options or {}))  # as YAML configs
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"backend {name} options", problems) from None
    return cls(model, parsed)

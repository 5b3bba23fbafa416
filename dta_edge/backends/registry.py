"""Backend registry: name -> "module:Class". Adding a backend is one module and one line here.

Classes are imported only when asked for, so a CPU install never imports vLLM or CUDA runtimes.
Every backend class takes ``(model, options)`` where ``options`` is its own frozen ``Options``
model, so a misspelt option fails with the key's name instead of being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator

from dta_edge.backends.base import Generator
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.plugins import name_check, plugin_class, plugin_options

BACKENDS: dict[str, str] = {
    "transformers": "dta_edge.backends.transformers_backend:TransformersGenerator",
    "llama-cpp": "dta_edge.backends.llama_cpp_backend:LlamaCppGenerator",
    "onnx": "dta_edge.backends.onnx_backend:OnnxGenerator",
    "openai": "dta_edge.backends.openai_backend:OpenAIGenerator",
    "vllm": "dta_edge.backends.vllm_backend:VllmGenerator",
}


# Every config field naming a backend validates against the registry: the one list of names.
BackendName = Annotated[str, AfterValidator(name_check(BACKENDS, "backend"))]


def backend_class(name: str) -> type:
    """The class registered under ``name``."""
    return plugin_class(BACKENDS, "backend", name)


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
    return create_generator(spec.backend, model_reference(spec.backend, spec.model, resolve),
                            spec.options if options is None else options)  # fmt: skip


def model_reference(backend: str, reference: str, resolve: ModelResolver = resolve_model) -> str:
    """What ``backend`` opens for ``reference``: resolved (embedded, hub id) unless served.

    A served backend's model is a name on the server ("Qwen/Qwen3-32B" looks like a hub id and
    must not be downloaded).
    """
    if getattr(backend_class(backend), "model_kind", "folder") == "served":
        return reference
    return resolve(reference)


def create_generator(name: str, model: str, options: dict[str, Any] | None = None) -> Generator:
    """Build a backend; its options are validated against the backend's own Options model."""
    cls = backend_class(name)
    return cls(model, plugin_options(cls, "backend", name, options))

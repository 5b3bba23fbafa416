"""`dta bench --model M`: a suite built from one model and a few choices, no YAML to write.

The backend follows from what the model is (a ``.gguf`` file: llama-cpp; an ONNX Runtime GenAI
folder: onnx; a transformers folder, a hub id or ``embedded:tiny``: transformers; a base URL:
openai), the problems from a name (``demo``: the demo tier's held-out set; ``telemath``: the
telecom generator over TeleMath's seven categories) or a file. The suite is written into the run
folder as suite.yaml, so ``dta bench --suite <out>/suite.yaml`` repeats the run exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from dta_edge.bench.suite import BenchSuite
from dta_edge.config import validate_mapping
from dta_edge.errors import ConfigError
from dta_edge.models.references import EMBEDDED

Thinking = Literal["on", "off", "both"]
Backend = Literal["auto", "llama-cpp", "onnx", "transformers", "openai", "vllm"]
PROBLEM_SETS = {
    "demo": {"n": 400, "seed": 4242, "tier": "demo", "advanced_fraction": 0.5,
             "id_prefix": "demo-eval"},  # the demo tier's held-out set (tasks.generator)
    "telemath": {"n": 500, "seed": 7, "difficulty": "mixed", "advanced_fraction": 0.5},
}  # fmt: skip


def infer_backend(model: str, base_url: str | None) -> str:
    """The backend that opens ``model`` (see the module docstring).

    Raises:
        ConfigError: nothing says which backend opens it (a path that does not exist, say).
    """
    if base_url:
        return "openai"
    if model.startswith(EMBEDDED):
        target = model.partition("@")[2]
        return "onnx" if "onnx" in target else "llama-cpp" if target else "transformers"
    path = Path(model)
    if path.suffix == ".gguf":
        return "llama-cpp"
    if (path / "genai_config.json").is_file():
        return "onnx"
    if (path / "config.json").is_file() or not path.exists():
        return "transformers"  # a transformers folder, or a hub id (checked before the run)
    raise ConfigError("--model", [f"{model}: not a GGUF file, an ONNX GenAI folder or a "
                                  "transformers folder; pass --backend"])  # fmt: skip


def _problems(problems: str) -> dict:
    if problems in PROBLEM_SETS:
        return {"generate": PROBLEM_SETS[problems]}
    if not Path(problems).is_file():
        raise ConfigError("--problems", [f"{problems}: not a file, nor one of "
                                         f"{', '.join(PROBLEM_SETS)}"])  # fmt: skip
    return {"file": str(Path(problems).resolve())}


def quick_suite(
    model: str, *, backend: Backend = "auto", base_url: str | None = None,
    problems: str = "demo", limit: int | None = None, thinking: Thinking = "off", k: int = 1,
    max_tokens: int = 512,
) -> BenchSuite:  # fmt: skip
    """A suite of one model (two systems with ``thinking="both"``).

    Raises:
        ConfigError: no backend fits the model, an unknown problem set, invalid options.
    """
    chosen = infer_backend(model, base_url) if backend == "auto" else backend
    name = Path(model.rstrip("/")).name.removesuffix(".gguf") or model
    options = {"base_url": base_url} if chosen == "openai" and base_url else {}
    settings = {"on": (True,), "off": (False,), "both": (False, True)}[thinking]
    systems = [
        {"name": name + ("-thinking" if on else ""), "backend": chosen, "model": model,
         "options": options, "thinking": on, "k": k,
         "sampling": {"max_tokens": max_tokens * (2 if on else 1)}}
        for on in settings
    ]  # fmt: skip
    data = {"kind": "bench-suite", "name": f"{name}-quick",
            "description": f"dta bench --model {model}", "problems": _problems(problems),
            "n": limit, "warmup": 1, "systems": systems}  # fmt: skip
    return validate_mapping(BenchSuite, data, "dta bench --model")

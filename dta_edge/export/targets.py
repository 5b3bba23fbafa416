"""Export targets: the format, the quantization and the device profile an export is for."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from dta_edge.config import FrozenModel
from dta_edge.safe_paths import PlainName

GGUF_TYPES = ("f32", "f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m")
ParityMode = Literal["auto", "quick", "full", "off"]
HF_DTYPES = ("float32", "bfloat16", "float16")
ONNX_TYPES = ("fp32", "int8", "int4")


class ExportTarget(FrozenModel):
    """One shipped export recipe (export/<name>.yaml)."""

    kind: Literal["export-target"] = "export-target"
    name: PlainName = Field(description="Target name, also the exported file's stem.")
    description: str = ""
    format: Literal["gguf", "hf", "onnx"] = Field(
        description="gguf: one llama.cpp file; hf: a safetensors folder (vLLM, transformers); "
        "onnx: ONNX Runtime GenAI folder with KV cache."
    )
    quantization: str = Field(
        description=f"gguf: one of {GGUF_TYPES}; hf: one of {HF_DTYPES}; onnx: one of {ONNX_TYPES}."
    )
    profile: str = Field(description="Device profile this target is for, e.g. profiles/cpu.yaml.")
    provider: Literal["cpu", "cuda", "dml", "webgpu"] = Field(
        default="cpu",
        description="onnx only: the ONNX Runtime execution provider the graph is built for "
        "(the builder fuses ops differently per provider).",
    )
    parity_texts: int = Field(default=20, ge=1, description="Generated texts for the parity check.")
    parity: ParityMode = Field(
        default="auto",
        description="full: every parity text at full length; quick: 4 texts cut to 64 tokens; "
        "off: none (the manifest says so); auto: quick when the checkpoint holds over "
        "1e9 weights, else full. The reference never loads more than fits in memory.",
    )

    @model_validator(mode="after")
    def _quantization_fits_format(self) -> ExportTarget:
        allowed = {"gguf": GGUF_TYPES, "hf": HF_DTYPES, "onnx": ONNX_TYPES}[self.format]
        if self.quantization not in allowed:
            raise ValueError(
                f"quantization '{self.quantization}' is not valid for {self.format}; "
                f"valid: {', '.join(allowed)}"
            )
        if self.provider != "cpu" and self.format != "onnx":
            raise ValueError(f"provider '{self.provider}' applies to format onnx only")
        return self


def shipped_targets(folder: Path) -> dict[str, Path]:
    """Target files in ``folder`` by name (what `dta export --list` shows)."""
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}

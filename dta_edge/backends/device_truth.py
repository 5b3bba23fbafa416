"""Refuse to run on the CPU what a profile asked to run on a GPU.

A llama-cpp-python wheel built without CUDA accepts `n_gpu_layers=-1` and quietly decodes on the
CPU; torch without CUDA fails deep inside `.to("cuda")`; ONNX Runtime without its CUDA provider
falls back to the CPU. Each would label CPU numbers with a GPU profile. These checks run when a
backend opens, and the error names the install command that fixes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from dta_edge.errors import ModelError

LLAMA_CPP_CUDA = (
    'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir '
    "--no-binary llama-cpp-python llama-cpp-python"
)
TORCH_CUDA = "pip install torch --index-url https://download.pytorch.org/whl/cu128"
ONNX_CUDA = "pip uninstall -y onnxruntime && pip install onnxruntime-gpu onnxruntime-genai-cuda"


def require_llama_gpu(n_gpu_layers: int) -> None:
    """Layers to offload need a llama.cpp built with GPU offload."""
    if n_gpu_layers == 0:
        return
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        raise ModelError(
            f"n_gpu_layers={n_gpu_layers} asks for the GPU, but this llama-cpp-python was built "
            f"without GPU offload and would decode on the CPU; install a CUDA build: "
            f"{LLAMA_CPP_CUDA} (or set gpu_layers: 0 in a CPU profile)"
        )


def require_torch_cuda(device: str) -> None:
    """A cuda device needs a torch that sees one."""
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "no visible CUDA device"
        raise ModelError(
            f"device cuda asked for, but torch {torch.__version__} has {build}; on a GPU "
            f"machine install a CUDA build: {TORCH_CUDA} (or use a CPU profile)"
        )


def require_onnx_provider(genai_folder: Path) -> None:
    """A graph built for CUDA needs ONNX Runtime's CUDA execution provider."""
    config = json.loads((genai_folder / "genai_config.json").read_text(encoding="utf-8"))
    options = config.get("model", {}).get("decoder", {}).get("session_options", {})
    wanted = {key for entry in options.get("provider_options", []) for key in entry}
    if "cuda" not in wanted:
        return
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        raise ModelError(
            f"{genai_folder}: the graph was built for CUDA, but ONNX Runtime here has only "
            f"{onnxruntime.get_available_providers()}; install the GPU runtime: {ONNX_CUDA}"
        )

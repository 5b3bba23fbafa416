"""A GPU profile never measures the CPU under its name: each backend refuses what it cannot run.

The capability probes (llama.cpp's offload flag, torch's CUDA, ONNX Runtime's providers) are
replaced at the lowest layer where a test needs the other answer than this machine gives.
"""

from __future__ import annotations

import json

import pytest

from dta_edge.backends.device_truth import (
    require_llama_gpu,
    require_onnx_provider,
    require_torch_cuda,
)
from dta_edge.errors import ModelError

from ..bench.test_runner import write_suite
from ..conftest import REPO, run_dta


def test_llama_offload_needs_a_gpu_build(monkeypatch):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)
    with pytest.raises(ModelError, match='CMAKE_ARGS="-DGGML_CUDA=on"'):
        require_llama_gpu(-1)
    require_llama_gpu(0)  # a CPU profile asks for nothing
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: True)
    require_llama_gpu(-1)


def test_torch_cuda_device_needs_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="download.pytorch.org/whl/cu"):
        require_torch_cuda("cuda")
    require_torch_cuda("cpu")


def test_onnx_cuda_graph_needs_the_cuda_provider(tmp_path, monkeypatch):
    import onnxruntime

    config = {"model": {"decoder": {"session_options": {"provider_options": [{"cuda": {}}]}}}}
    (tmp_path / "genai_config.json").write_text(json.dumps(config))
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ModelError, match="onnxruntime-gpu"):
        require_onnx_provider(tmp_path)
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])  # fmt: skip
    require_onnx_provider(tmp_path)
    (tmp_path / "genai_config.json").write_text(json.dumps({"model": {"decoder": {}}}))
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    require_onnx_provider(tmp_path)  # a CPU graph


def test_bench_with_a_gpu_profile_on_a_cpu_build_exits_2(tiny_gguf_f32, tmp_path):
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python offloads to a GPU; the refusal cannot happen here")
    suite = write_suite(tmp_path, tiny_gguf_f32, n=1)
    gpu = (REPO / "profiles/laptop-rtx4060.yaml").read_text()
    profile = tmp_path / "gpu.yaml"  # its meter off, so only the device can refuse
    profile.write_text(
        gpu.replace("energy_meter: nvml", "energy_meter: none").replace(
            "meter_options: {devices: [0]}", ""
        )
    )
    result = run_dta("bench", "--suite", str(suite), "--profile", str(profile),
                     "--out", str(tmp_path / "o"))  # fmt: skip
    assert result.returncode == 2
    assert "built without GPU offload" in result.stderr and "Traceback" not in result.stderr

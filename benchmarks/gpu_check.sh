#!/usr/bin/env bash
# One GPU check, ready to run on one H100/H200 in at most 8 minutes; writes one JSON.
#
#   bash benchmarks/gpu_check.sh [OUT.json]      (from the repository root, after `make test`)
#
# Measures, on a random ~0.45B Qwen3 built locally (nothing downloaded): NVML-metered
# `dta bench` of transformers bf16 and llama.cpp CUDA at Q8_0 and Q4_K_M with each one's decode
# bandwidth share of the GPU; the in-process `vllm` backend and `vllm serve` + the `openai`
# backend (vLLM in its own venv, VLLM_VENV, never in this one); ONNX CUDA int4 parity of the
# laptop-gpu-onnx-int4 target; bf16 LoRA training speed. Every prerequisite is checked first and
# the script stops before measuring anything if one is missing, naming the command that fixes
# it: it never half-runs.
set -euo pipefail
OUT="${1:-gpu-check.json}"
PY="${PY:-.venv/bin/python}"
VLLM_VENV="${VLLM_VENV:-.vllm-venv}"
missing=()
need() { missing+=("$1"); }

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \
  || need "an NVIDIA GPU with its driver (nvidia-smi -L lists none here)"
[ -x "$PY" ] || need "the project venv: run \`make test\` first (or set PY=...)"
if [ -x "$PY" ]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
    || need "CUDA torch: .venv/bin/pip install torch==2.13.0 (the PyPI build is the CUDA one)"
  "$PY" -c "import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)" 2>/dev/null \
    || need "llama-cpp-python with CUDA: CMAKE_ARGS=\"-DGGML_CUDA=on\" .venv/bin/pip install --force-reinstall --no-cache-dir --no-binary llama-cpp-python llama-cpp-python"
  "$PY" -c "import pynvml; pynvml.nvmlInit()" 2>/dev/null \
    || need "NVML: .venv/bin/pip install nvidia-ml-py (the energy extra)"
  "$PY" -c "import onnxruntime as o, sys; sys.exit(0 if 'CUDAExecutionProvider' in o.get_available_providers() else 1)" 2>/dev/null \
    || need "ONNX Runtime CUDA: .venv/bin/pip uninstall -y onnxruntime && .venv/bin/pip install onnxruntime-gpu onnxruntime-genai-cuda"
fi
[ -x "$VLLM_VENV/bin/vllm" ] && "$VLLM_VENV/bin/python" -c "import dta_edge" 2>/dev/null \
  || need "vLLM in its own venv: python3 -m venv $VLLM_VENV && $VLLM_VENV/bin/pip install vllm && $VLLM_VENV/bin/pip install -e . (or set VLLM_VENV)"

if [ "${#missing[@]}" -gt 0 ]; then
  echo "gpu_check: not run; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
exec timeout 480 "$PY" benchmarks/gpu_check.py --out "$OUT" --vllm-venv "$VLLM_VENV"

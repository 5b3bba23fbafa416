"""benchmarks/gpu_check.sh fails loudly, before measuring anything, where it cannot run whole."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO


@pytest.mark.slow
def test_refuses_without_a_gpu_and_names_every_fix(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("an NVIDIA driver is here: the check would run for real")
    out = tmp_path / "gpu-check.json"
    env = {**os.environ, "PY": sys.executable, "VLLM_VENV": str(tmp_path / "no-vllm")}
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(out)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1
    assert "gpu_check: not run; missing:" in result.stderr
    assert "an NVIDIA GPU with its driver" in result.stderr
    assert "CUDA torch" in result.stderr and "vLLM in its own venv" in result.stderr
    assert not out.exists()  # nothing half-measured

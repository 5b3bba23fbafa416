"""Shared fixtures: the CLI runner and the session-scoped tiny model."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from dta_edge.backends.llama_server import free_port  # noqa: F401 - shared by tests

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker, and every process it starts, gets its share of the cores.

    Two workers on two cores each ran torch with two OpenMP threads, and the trainers and
    exporters they start did the same: four spinning threads on two cores. The kill-and-resume
    training test took 85 s in the suite against 20 s alone. A user's ``OMP_NUM_THREADS`` wins.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1 or "OMP_NUM_THREADS" in os.environ:
        return
    share = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = share
    if "torch" in sys.modules:  # already imported: its pool was sized before the variable
        sys.modules["torch"].set_num_threads(int(share))


def run_dta(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real `dta` entry point in a subprocess: exit codes and stderr as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "dta_edge", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def kill_dta_when(lines_in: Path, lines: int, *args: str, timeout: float = 180) -> None:
    """Run `dta ARGS` and SIGKILL its whole process group once ``lines_in`` has ``lines`` lines."""
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "dta_edge", *args], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lines_in.exists() and lines_in.read_text().count("\n") >= lines:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The default embedded tiny model, built once (cached in the user cache dir across runs)."""
    from dta_edge.models.tiny import tiny_model

    return tiny_model().path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep evidence worth reading after a run (screenshots, measured numbers)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def tiny_gguf_f32(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model as an F32 GGUF (greedy output identical to transformers)."""
    from dta_edge.export.gguf_writer import write_gguf

    return write_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf", "f32")


@pytest.fixture(scope="session")
def tiny_onnx_fp32(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model as an fp32 ONNX Runtime GenAI folder."""
    from dta_edge.export.onnx_export import build_onnx

    return build_onnx(tiny_model_dir, tmp_path_factory.mktemp("onnx") / "fp32", "fp32")


@pytest.fixture(scope="session")
def llama_server(tiny_gguf_f32) -> str:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serving the F32 tiny GGUF.

    Returns its base URL (…/v1). Bounded: 60 s to come up, stopped at the end of the session.
    """
    from dta_edge.backends.llama_server import serve_gguf

    with serve_gguf(tiny_gguf_f32, n_threads=2) as base:
        yield base


@pytest.fixture(scope="session")
def lora_adapter(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter on the tiny model with non-zero B: it really changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        peft_model = get_peft_model(model, config)
    out = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """This checkout as a wheel, installed without dependencies into a venv outside it.

    That venv sees the project's dependencies through a .pth line naming their site-packages
    (a path line runs none of that folder's .pth files), so the checkout's editable install
    stays invisible and ``dta_edge`` can only come from the wheel.
    """
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"  # the checkout's files, without its build/ (a stale build/lib
    listed = subprocess.run(  # would put modules since moved or removed into the wheel)
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(source)],
                   check=True, capture_output=True, cwd=root)  # fmt: skip
    (wheel,) = wheels.glob("dta_edge-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (purelib,) = (venv / "lib").glob("python*/site-packages")
    (purelib / "dta-edge-deps.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    return venv


def dta(venv: Path, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed wheel's `dta` in ``cwd``, nothing from the checkout on its path."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(venv / "bin" / "dta"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)  # fmt: skip

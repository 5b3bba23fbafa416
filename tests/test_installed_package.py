"""Installed as a package: the wheel carries the shipped declarations and runs from anywhere.

The wheel is built from this checkout and installed (no dependencies) into a fresh venv outside
it. That venv sees the project's installed dependencies through a .pth line naming their
site-packages: a path line adds that folder to sys.path but runs none of its .pth files, so the
checkout's editable install stays invisible and ``dta_edge`` can only come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
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
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(venv / "bin" / "dta"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)  # fmt: skip


@pytest.mark.slow
def test_the_package_comes_from_the_wheel(installed, tmp_path):
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import dta_edge.shipped as s; print(s.__file__); print(s.shipped_root())"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    )  # fmt: skip
    module, root = result.stdout.split()
    assert str(installed) in module and root.endswith("dta_edge/_shipped")


def test_shipped_names_resolve_from_anywhere(installed, tmp_path):
    listing = dta(installed, tmp_path, "export", "--list")
    assert listing.returncode == 0 and "cpu-gguf-q8_0" in listing.stdout, listing.stderr
    reported = dta(installed, tmp_path, "bench", "--suite", "paper-reported", "--profile", "cpu",
                   "--out", "reported")  # fmt: skip
    assert reported.returncode == 0, reported.stderr
    assert (tmp_path / "reported" / "reported.json").is_file()
    unknown = dta(installed, tmp_path, "curate", "--recipe", "no-such-recipe", "--out", "c")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "telemath-qwen3" in unknown.stderr  # the shipped names are listed


@pytest.mark.slow
def test_fast_demo_runs_from_a_temporary_directory(installed, tmp_path):
    result = dta(installed, tmp_path, "demo", "--fast", "--out", "demo")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (tmp_path / "demo" / "report" / "report.html").is_file()


def test_test_inputs_stay_out_of_the_wheel(installed):
    (purelib,) = (installed / "lib").glob("python*/site-packages")
    assert (purelib / "dta_edge" / "models" / "tiny.py").exists()
    assert not (purelib / "dta_edge_testing").exists()
    for module in ("random_checkpoint.py", "reference_tokenizers.py"):
        assert not (purelib / "dta_edge" / "models" / module).exists(), module

"""Installed as a package: the wheel carries the shipped declarations and runs from anywhere.

The wheel is built from this checkout and installed (no dependencies) into a fresh venv outside
it. That venv sees the project's installed dependencies through a .pth line naming their
site-packages: a path line adds that folder to sys.path but runs none of its .pth files, so the
checkout's editable install stays invisible and ``dta_edge`` can only come from the wheel.
The ``installed`` fixture lives in conftest: tests/test_demo.py runs the fast demo through it
too, from a temporary directory, so the suite runs the demo once and proves both.
"""

from __future__ import annotations

import subprocess

import pytest

from .conftest import dta


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


def test_test_inputs_stay_out_of_the_wheel(installed):
    (purelib,) = (installed / "lib").glob("python*/site-packages")
    assert (purelib / "dta_edge" / "models" / "tiny.py").exists()
    assert not (purelib / "dta_edge_testing").exists()
    for module in ("random_checkpoint.py", "reference_tokenizers.py"):
        assert not (purelib / "dta_edge" / "models" / module).exists(), module

"""`dta configs list / copy`: what ships, and a copy to edit; a profile needs name and device."""

from __future__ import annotations

import pytest

from dta_edge.config import load_config
from dta_edge.profiles import DeviceProfile

from .conftest import run_dta


@pytest.mark.slow
def test_list_names_every_kind_and_copy_gives_an_editable_file(tmp_path):
    listed = run_dta("configs", "list")
    assert listed.returncode == 0, listed.stderr
    for name in ("demo", "cpu", "train-demo", "cpu-gguf-q8_0", "teacher"):
        assert name in listed.stdout
    profiles = run_dta("configs", "list", "profiles")  # the folder's name works as the kind's
    assert profiles.returncode == 0 and "jetson-orin-nano" in profiles.stdout
    assert "train-demo" not in profiles.stdout
    copy = run_dta("configs", "copy", "cpu", str(tmp_path / "mine.yaml"))
    assert copy.returncode == 0, copy.stderr
    assert load_config(tmp_path / "mine.yaml", DeviceProfile).name == "cpu"
    again = run_dta("configs", "copy", "cpu", str(tmp_path / "mine.yaml"))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    both = run_dta("configs", "copy", "demo", str(tmp_path / "d.yaml"))
    assert both.returncode == 2 and "--kind" in both.stderr
    suite = run_dta("configs", "copy", "demo", str(tmp_path / "d.yaml"), "--kind", "suite")
    assert suite.returncode == 0 and "bench-suite" in (tmp_path / "d.yaml").read_text()
    typo = run_dta("configs", "copy", "cpuu")
    assert typo.returncode == 2 and "did you mean 'cpu'" in typo.stderr


def test_a_profile_needs_only_name_and_device(tmp_path):
    for device in ("cpu", "cuda"):
        path = tmp_path / f"{device}.yaml"
        path.write_text(f"kind: profile\nname: mine\ndevice: {device}\n")
        profile = load_config(path, DeviceProfile)
        assert profile.backend == "llama-cpp" and profile.memory_bandwidth_gbs is None
        assert profile.meter_chain[-1] == "none"  # no tdp_w: no energy rather than a guess
        if device == "cuda":
            assert profile.energy_meter == "nvml" and profile.gpu_layers == -1


def test_piped_output_keeps_table_cells_whole():
    """Into a file or a CI log (no terminal, no COLUMNS), a table is not cut to 80 columns."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run([sys.executable, "-m", "dta_edge", "configs", "list", "profile"],
                           capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "profiles/jetson-orin-nano.yaml" in piped.stdout
    assert "NVIDIA Jetson Orin Nano 8 GB developer kit" in piped.stdout

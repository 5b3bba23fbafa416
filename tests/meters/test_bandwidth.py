"""The STREAM-style bandwidth measurement and `dta profile measure` (both ceilings)."""

from __future__ import annotations

from dta_edge.config import load_config
from dta_edge.meters.bandwidth import measure_bandwidth
from dta_edge.profiles import DeviceProfile

from ..conftest import REPO, run_dta


def test_bandwidth_is_positive_and_best_of_both_kernels():
    result = measure_bandwidth(array_mib=16, repetitions=2, threads=2)
    assert result.copy_gbs > 0 and result.triad_gbs > 0
    assert result.best_gbs == max(result.copy_gbs, result.triad_gbs)
    assert result.threads == 2


def test_profile_measure_writes_a_valid_profile(tmp_path):
    out = tmp_path / "here.yaml"
    result = run_dta("profile", "measure", "--out", str(out), "--array-mib", "16",
                     "--repetitions", "1", "--name", "this-vm")  # fmt: skip
    assert result.returncode == 0, result.stderr
    profile = load_config(out, DeviceProfile)
    shipped = load_config(REPO / "profiles/cpu.yaml", DeviceProfile)
    assert profile.name == "this-vm" and profile.memory_bandwidth_gbs > 0
    assert profile.memory_bandwidth_gbs != shipped.memory_bandwidth_gbs
    assert profile.tdp_w == shipped.tdp_w and profile.energy_meter == shipped.energy_meter
    assert out.read_text().startswith("# memory_bandwidth_gbs measured by `dta profile measure`")
    assert "# matvec_gflops: llama.cpp's ggml matrix-vector kernels" in out.read_text()
    assert {"q8_0", "q4_k", "q6_k", "f16"} <= set(profile.matvec_gflops)
    assert all(rate > 0 for rate in profile.matvec_gflops.values())


def test_profile_measure_without_compute_keeps_the_base_profiles_rates(tmp_path):
    out = tmp_path / "here.yaml"
    result = run_dta("profile", "measure", "--out", str(out), "--array-mib", "16",
                     "--repetitions", "1", "--no-compute")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert load_config(out, DeviceProfile).matvec_gflops is None

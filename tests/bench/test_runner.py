"""dta bench end to end on the tiny GGUF: energy windows, voting, errors, resume, CLI."""

import json
import sys

import pytest

from dta_edge.bench.metrics import summarize_system
from dta_edge.bench.runner import run_suite
from dta_edge.bench.suite import BenchSuite
from dta_edge.config import load_config
from dta_edge.profiles import DeviceProfile
from dta_edge.records import BenchResult
from dta_edge.storage import read_jsonl

from ..conftest import REPO, free_port, kill_dta_when, run_dta
from ..meters.test_meters import fake_pynvml


def result(problem, index, correct, value, window, ms, joules, tokens=10):
    return BenchResult(
        system="s", problem_id=problem, sample_index=index, text="", extracted=str(value),
        value=value, correct=correct, output_tokens=tokens, ttft_ms=5.0, e2e_ms=ms,
        window_id=window, window_ms=ms, window_energy_j=joules, energy_j=joules,
        energy_estimated=False, meter="nvml",
    )  # fmt: skip


def test_metrics_vote_latency_and_energy_per_problem():
    # p1: 2 of 3 samples right, issued in parallel (one 300 ms, 30 J window);
    # p2: 1 of 3 right, issued one by one (three windows that add up).
    results = [
        result("p1", 0, True, 5.0, "w1", 300, 30), result("p1", 1, True, 5.0, "w1", 300, 30),
        result("p1", 2, False, 7.0, "w1", 300, 30),
        result("p2", 0, True, 1.0, "a", 100, 4), result("p2", 1, False, 2.0, "b", 200, 5),
        result("p2", 2, False, 2.0, "c", 300, 6),
    ]  # fmt: skip
    summary = summarize_system(results)
    assert summary.k == 3 and summary.problems == 2
    assert summary.pass_at_1 == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert summary.cons_at_k == 0.5  # p1's vote is right (5.0 x2), p2's is wrong (2.0 x2)
    assert summary.latency_median_s == pytest.approx(0.45)  # 0.3 and 0.1+0.2+0.3
    assert summary.energy_per_problem_j == pytest.approx((30 + 15) / 2)
    assert summary.joules_per_output_token == pytest.approx(45 / 60)
    assert summary.joules_per_correct == pytest.approx(45 / 1)  # one problem solved by the vote
    assert summary.pass_at_k == pytest.approx(1.0)  # each problem has a right sample among 3


def write_suite(tmp_path, gguf, n=4, extra_systems=""):
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"""kind: bench-suite
name: t
problems:
  generate: {{n: {n}, seed: 2}}
warmup: 1
systems:
  - name: greedy
    backend: llama-cpp
    model: {gguf}
    options: {{n_threads: 2}}
    sampling: {{max_tokens: 24}}
  - name: vote3
    backend: llama-cpp
    model: {gguf}
    k: 3
    issue: parallel
    sampling: {{temperature: 0.8, max_tokens: 24, seed: 4}}
{extra_systems}"""
    )
    return path


def test_suite_with_nvml_energy_windows(tiny_gguf_f32, tmp_path, monkeypatch):
    counter = iter(range(0, 10**12, 2_000))  # every read: +2 J on the only GPU
    nvml = fake_pynvml({0: counter}, {})
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    suite_path = write_suite(tmp_path, tiny_gguf_f32)
    profile = load_config(REPO / "profiles/laptop-rtx4060.yaml", DeviceProfile)
    profile = profile.model_copy(update={"gpu_layers": 0, "matvec_gflops": {"f32": 40.0}})
    summaries = run_suite(load_config(suite_path, BenchSuite), suite_path, profile, tmp_path / "o")
    results = read_jsonl(tmp_path / "o" / "results.jsonl", BenchResult)
    assert len(results) == 4 + 4 * 3
    assert all(r.meter == "nvml" and r.energy_estimated is False for r in results)
    assert all(r.energy_method == "energy counter delta" for r in results if r.energy_j)
    greedy = [r for r in results if r.system == "greedy"]
    assert all(r.window_energy_j == 2.0 for r in greedy)  # start and stop reads: one step
    votes = [r for r in results if r.system == "vote3"]
    assert len({r.window_id for r in votes}) == 4  # one window per problem for parallel k
    for window in {r.window_id for r in votes}:
        shares = [r.energy_j for r in votes if r.window_id == window]
        assert sum(shares) == pytest.approx(2.0)  # the window's energy split by output tokens
    by_name = {s.system: s for s in summaries}
    assert by_name["vote3"].k == 3 and by_name["vote3"].cons_at_k is not None
    assert by_name["greedy"].energy_per_problem_j == pytest.approx(2.0)
    assert by_name["greedy"].load_s is not None and by_name["greedy"].load_s > 0
    # a GPU profile told to offload nothing ran on the CPU, and the summary says so
    assert by_name["greedy"].device == "cpu" and by_name["greedy"].offloaded_layers == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert [s["system"] for s in summary["systems"]] == ["greedy", "vote3"]
    greedy_row = by_name["greedy"]  # the roofline from the GGUF's own tensor table
    from dta_edge.bench.roofline import gguf_footprint

    footprint = gguf_footprint(tiny_gguf_f32)
    assert greedy_row.decode_bytes_per_token >= footprint.weight_bytes
    assert greedy_row.decode_bandwidth_gbs == pytest.approx(
        greedy_row.decode_bytes_per_token * greedy_row.decode_tokens_per_s_median / 1e9
    )
    assert greedy_row.bandwidth_share == pytest.approx(
        greedy_row.decode_bandwidth_gbs / profile.memory_bandwidth_gbs
    )
    assert summary["systems"][0]["bandwidth_share"] == greedy_row.bandwidth_share
    # the compute ceiling: the f32 GGUF's matrices at the profile's f32 kernel rate
    flops = 2 * sum(footprint.matvec_parameters.values())
    assert greedy_row.decode_gflops == pytest.approx(
        flops * greedy_row.decode_tokens_per_s_median / 1e9
    )
    assert greedy_row.compute_ceiling_gflops == pytest.approx(40.0)
    allowed = {"memory": profile.memory_bandwidth_gbs * 1e9 / greedy_row.decode_bytes_per_token,
               "compute": 40.0e9 / flops}  # fmt: skip
    assert greedy_row.roofline_binding == min(allowed, key=allowed.__getitem__)


@pytest.mark.slow
def test_failed_requests_are_recorded_not_dropped(tiny_gguf_f32, tmp_path):
    dead = f"""  - name: dead-server
    backend: openai
    model: m
    options: {{base_url: "http://127.0.0.1:{free_port()}/v1", timeout_s: 5}}
"""
    suite_path = write_suite(tmp_path, tiny_gguf_f32, n=2, extra_systems=dead)
    suite = load_config(suite_path, BenchSuite).model_copy(
        update={"warmup": 0, "protocol": "telemath-reference"}
    )
    profile = load_config(REPO / "profiles/cpu.yaml", DeviceProfile)
    summaries = run_suite(suite, suite_path, profile, tmp_path / "o")
    results = read_jsonl(tmp_path / "o" / "results.jsonl", BenchResult)
    failed = [r for r in results if r.system == "dead-server"]
    assert len(failed) == 2 and all("ServerError" in r.error for r in failed)
    assert {s.system: s.errors for s in summaries}["dead-server"] == 2
    # the suite's protocol decides `correct`; every protocol's verdict is kept beside it
    assert all(r.correct == r.verdicts["telemath-reference"] for r in results)
    assert all(set(r.verdicts) == {"dta", "telemath-reference"} for r in results)
    assert not any(any(r.verdicts.values()) for r in failed)  # a failed request is wrong twice
    for s in summaries:
        assert s.protocol == "telemath-reference"
        assert s.pass_at_1 == s.pass_at_1_by_protocol["telemath-reference"]


def test_sigkill_then_rerun_completes_without_repeats(tiny_gguf_f32, tmp_path):
    suite_path = write_suite(tmp_path, tiny_gguf_f32, n=12)
    out = tmp_path / "o"
    results = out / "results.jsonl"
    kill_dta_when(results, 20, "bench", "--suite", str(suite_path), "--out", str(out))
    before = results.read_text().splitlines()
    assert 20 <= len(before) < 12 + 12 * 3, "killed too late to test a resume"
    with results.open("a") as handle:
        handle.write('{"system": "greedy", "problem_id": "torn')  # a record cut mid-write
    rerun = run_dta("bench", "--suite", str(suite_path), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    records = read_jsonl(results, BenchResult)
    keys = [r.key for r in records]
    assert len(keys) == len(set(keys)) == 12 + 12 * 3
    intact = [json.loads(line)["problem_id"] for line in before if line.endswith("}")]
    assert [r.problem_id for r in records[: len(intact)]] == intact  # nothing rewritten
    assert json.loads((out / "run.json").read_text())["resumed"] is True


def test_cli_table_reported_suite_and_bad_suite(tmp_path, tiny_gguf_f32):
    reported = run_dta("bench", "--suite", "bench/paper-reported.yaml", "--out", str(tmp_path))
    assert reported.returncode == 0, reported.stderr
    rows = json.loads((tmp_path / "reported.json").read_text())
    assert rows["label"] == "reported"
    assert {s["name"]: s["pass_at_1"] for s in rows["systems"]}["dta-student (reported)"] == 72.45
    assert not (tmp_path / "results.jsonl").exists()  # reported figures are never run

    bad = tmp_path / "bad.yaml"
    bad.write_text(write_suite(tmp_path, tiny_gguf_f32).read_text().replace("k: 3", "kk: 3"))
    result = run_dta("bench", "--suite", str(bad), "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "line 15: systems.1.kk: unknown key" in result.stderr


def test_bench_prints_the_systems_table(tiny_gguf_f32, tmp_path):
    suite_path = write_suite(tmp_path, tiny_gguf_f32, n=2)
    result = run_dta("bench", "--suite", str(suite_path), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    for text in ("pass@1", "cons@k", "greedy", "vote3", "J/correct", "summary.json"):
        assert text in result.stdout

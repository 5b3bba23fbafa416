"""Per-system figures from per-request results: accuracy, latency and energy, as the paper needs.

Latency and energy are per answered problem: a voted system pays for all k samples. A problem's
latency is the wall time of its windows as issued (k sequential requests add up; k parallel ones
count once), its energy the sum over its windows.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.records import BenchResult, ScoredCompletion
from dta_edge.tasks.protocols import DEFAULT_PROTOCOL
from dta_edge.tasks.scoring import majority_vote, pass_at_1_by_protocol, pass_at_k, wilson_interval


class SystemSummary(FrozenModel):
    """One row of the systems table."""

    system: str
    label: str = Field(default="measured", description="measured or reported; never mixed.")
    run: str | None = Field(
        default=None, description="The bench run it came from (set when a report reads it)."
    )
    backend: str = ""
    model: str = ""
    quantization: str = ""
    model_mib: float | None = Field(default=None, description="Size of the weights on disk.")
    thinking: bool = False
    arm: str | None = Field(default=None, description="The arm it is one seed of (see suite).")
    seed: int | None = None
    k: int = 1
    issue: str = "sequential"
    problems: int
    requests: int
    errors: int
    pass_at_1: float = Field(description="Mean over samples, then over problems (0-1).")
    pass_at_1_ci95: tuple[float, float]
    protocol: str = Field(default=DEFAULT_PROTOCOL, description="The protocol pass@1 is under.")
    pass_at_1_by_protocol: dict[str, float] = Field(
        default_factory=dict, description="pass@1 under every scoring protocol, side by side."
    )
    pass_at_k: float | None = None
    cons_at_k: float | None = None
    latency_median_s: float | None = None
    latency_p90_s: float | None = None
    ttft_median_s: float | None = None
    decode_tokens_per_s_median: float | None = None
    output_tokens_per_problem: float | None = None
    energy_per_problem_j: float | None = None
    joules_per_output_token: float | None = None
    joules_per_correct: float | None = Field(
        default=None, description="Energy per solved problem (by vote when k > 1)."
    )
    meter: str = "none"
    energy_estimated: bool | None = None
    energy_method: str | None = Field(
        default=None, description="The meter's method; for an estimate, its power model."
    )
    load_s: float | None = Field(default=None, description="Model load, outside every window.")
    idle_w_subtracted: float | None = Field(
        default=None, description="Idle power measured before the run and taken off each window."
    )
    device: str = Field(default="", description="Where the backend actually ran.")
    offloaded_layers: int | None = Field(
        default=None, description="llama.cpp: layers (of blocks + output) on the GPU."
    )
    profile: str = ""
    decode_bytes_per_token: float | None = Field(
        default=None,
        description="Weights read per decode step plus the KV cache at the mean "
        "context (bench/roofline).",
    )
    decode_bandwidth_gbs: float | None = Field(
        default=None, description="Bytes per token x median decode tokens/s."
    )
    bandwidth_share: float | None = Field(
        default=None, description="decode_bandwidth_gbs / the profile's memory_bandwidth_gbs."
    )
    memory_bandwidth_gbs: float | None = Field(
        default=None, description="The profile's ceiling the share is taken against."
    )
    prefill_tflops: float | None = Field(
        default=None, description="2 x parameters x median prompt tokens / median TTFT."
    )
    prefill_share: float | None = Field(
        default=None, description="prefill_tflops / the profile's peak_tflops, if it gives one."
    )
    decode_gflops: float | None = Field(
        default=None, description="2 x matrix-vector parameters x median decode tokens/s (GGUF)."
    )
    compute_ceiling_gflops: float | None = Field(
        default=None,
        description="The same work at the profile's measured matvec_gflops per weight type.",
    )
    compute_share: float | None = Field(
        default=None, description="decode_gflops / compute_ceiling_gflops."
    )
    roofline_binding: str | None = Field(
        default=None,
        description="memory or compute: the ceiling that allows fewer decode tokens/s.",
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0-100) of a non-empty sequence."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize_system(results: Sequence[BenchResult], **about) -> SystemSummary:
    """Aggregate one system's results; ``about`` fills the descriptive fields."""
    by_problem: dict[str, list[BenchResult]] = defaultdict(list)
    for result in results:
        by_problem[result.problem_id].append(result)
    k = max(len(samples) for samples in by_problem.values())
    per_problem_pass = [sum(r.correct for r in rs) / len(rs) for rs in by_problem.values()]
    pass1 = statistics.fmean(per_problem_pass)
    voted = None
    if k > 1:
        voted = [vote_correct(rs) for rs in by_problem.values()]
    latencies, energies, tokens = [], [], []
    for samples in by_problem.values():
        windows = {r.window_id or r.key: r for r in samples}.values()
        if all(w.window_ms is not None for w in windows):
            latencies.append(sum(w.window_ms for w in windows) / 1000)  # type: ignore[misc]
        if all(w.window_energy_j is not None for w in windows):
            energies.append(sum(w.window_energy_j for w in windows))  # type: ignore[misc]
        tokens.append(sum(r.output_tokens or 0 for r in samples))
    total_energy = sum(energies) if energies and len(energies) == len(by_problem) else None
    total_tokens = sum(tokens)
    solved = sum(voted) if voted is not None else sum(r.correct for r in results)
    estimated = {r.energy_estimated for r in results if r.energy_estimated is not None}
    return SystemSummary(
        system=results[0].system,
        k=k,
        problems=len(by_problem),
        requests=len(results),
        errors=sum(r.error is not None for r in results),
        pass_at_1=pass1,
        pass_at_1_ci95=wilson_interval(pass1 * len(by_problem), len(by_problem)),
        pass_at_1_by_protocol=pass_at_1_by_protocol(by_problem.values()),
        pass_at_k=statistics.fmean(
            pass_at_k(len(rs), sum(r.correct for r in rs), k) for rs in by_problem.values()
        )
        if k > 1
        else None,
        cons_at_k=statistics.fmean(voted) if voted is not None else None,
        latency_median_s=statistics.median(latencies) if latencies else None,
        latency_p90_s=percentile(latencies, 90) if latencies else None,
        ttft_median_s=_median(r.ttft_ms / 1000 if r.ttft_ms else None for r in results),
        decode_tokens_per_s_median=_median(r.decode_tokens_per_s for r in results),
        output_tokens_per_problem=total_tokens / len(by_problem),
        energy_per_problem_j=total_energy / len(by_problem) if total_energy is not None else None,
        joules_per_output_token=total_energy / total_tokens
        if total_energy is not None and total_tokens
        else None,
        joules_per_correct=total_energy / solved if total_energy is not None and solved else None,
        meter=results[0].meter,
        energy_method=next((r.energy_method for r in results if r.energy_method), None),
        energy_estimated=estimated.pop() if len(estimated) == 1 else None,
        **about,
    )


def vote_correct(samples: Sequence[BenchResult]) -> bool:
    """Whether the majority answer of one problem's samples is correct (cons@k)."""
    scored = [
        ScoredCompletion(
            problem_id=r.problem_id,
            sample_index=r.sample_index,
            extracted=r.extracted,
            value=r.value,
            correct=r.correct,
            reason="",
        )
        for r in samples
    ]
    winner = majority_vote(scored)
    return winner is not None and winner.correct


def _by_system_and_problem(
    results: Sequence[BenchResult],
) -> dict[str, dict[str, list[BenchResult]]]:
    grouped: dict[str, dict[str, list[BenchResult]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        grouped[r.system][r.problem_id].append(r)
    return grouped


def per_problem_scores(results: Sequence[BenchResult]) -> dict[str, dict[str, float]]:
    """Per system, problem id -> share of its samples that are correct (paired comparisons)."""
    return {system: {pid: sum(r.correct for r in rs) / len(rs) for pid, rs in problems.items()}
            for system, problems in _by_system_and_problem(results).items()}  # fmt: skip


def per_problem_votes(results: Sequence[BenchResult]) -> dict[str, dict[str, float]]:
    """Per system with k > 1 samples, problem id -> 1.0 if the majority answer is correct."""
    return {system: {pid: float(vote_correct(rs)) for pid, rs in problems.items()}
            for system, problems in _by_system_and_problem(results).items()
            if max(map(len, problems.values())) > 1}  # fmt: skip


class BenchSummaryFile(FrozenModel):
    """A bench run's summary.json: the suite's name, the profile and one row per system."""

    schema_version: Literal[1] = 1
    suite: str
    profile: dict[str, Any]
    systems: tuple[SystemSummary, ...]

"""Arms trained with several seeds: pooled in the report, compared over seeds and problems."""

from __future__ import annotations

import random

from dta_edge.bench.metrics import SystemSummary
from dta_edge.report.deltas import headline_deltas
from dta_edge.report.render import seed_rows

PROBLEMS = [f"p{i}" for i in range(120)]


def _arm(name: str, shares: list[float], rng: random.Random):
    systems, scores = [], {}
    for seed, share in enumerate(shares):
        system = name if seed == 0 else f"{name}-seed{seed}"
        scores[system] = {key: float(rng.random() < share) for key in PROBLEMS}
        correct = sum(scores[system].values()) / len(PROBLEMS)
        systems.append(SystemSummary(system=system, problems=len(PROBLEMS),
                                     requests=len(PROBLEMS), errors=0, pass_at_1=correct,
                                     pass_at_1_ci95=(0.0, 1.0), arm=name.split("-")[0],
                                     seed=seed))  # fmt: skip
    return systems, scores


def test_two_arms_of_seeds_get_a_pooled_line_and_a_seeds_table():
    rng = random.Random(7)
    dta, dta_scores = _arm("dta-gguf", [0.6, 0.4, 0.5], rng)
    distilled, distilled_scores = _arm("distilled-gguf", [0.45, 0.45, 0.45], rng)
    base = SystemSummary(system="base-gguf", problems=len(PROBLEMS), requests=len(PROBLEMS),
                         errors=0, pass_at_1=0.1, pass_at_1_ci95=(0.0, 1.0))  # fmt: skip
    scores = {**dta_scores, **distilled_scores,
              "base-gguf": {key: 0.0 for key in PROBLEMS}}  # fmt: skip
    systems = [*dta, *distilled, base]
    deltas, _ = headline_deltas(systems, [], ["distilled-gguf", "base-gguf"], scores,
                                only=["dta-gguf"])  # fmt: skip
    pooled = [d for d in deltas if d.metric == "pass@1 over seeds"]
    assert len(pooled) == 1  # against the other arm only; the base is one run, not an arm
    (line,) = pooled
    mean = lambda rows: sum(s.pass_at_1 for s in rows) / len(rows)  # noqa: E731
    assert abs(line.value - 100 * (mean(dta) - mean(distilled))) < 1e-9
    assert line.low < line.value < line.high
    single = next(d for d in deltas if d.metric == "pass@1" and d.baseline == "distilled-gguf")
    assert line.high - line.low > single.high - single.low  # seeds add their own spread
    assert "pooled over 3 vs 3 seeds" in line.text
    rows = {row["arm"]: row for row in seed_rows(systems, scores)}
    pooled, interval = rows["dta"]["pooled"].split(" ", 1)
    assert abs(float(pooled) - 100 * mean(dta)) < 0.06 and interval.startswith("[")
    assert set(rows) == {"dta", "distilled"} and rows["dta"]["seeds"] == "3"
    assert rows["dta"]["per_seed"].count("(seed ") == 3


def test_one_seed_per_arm_adds_nothing():
    rng = random.Random(1)
    dta, a = _arm("dta-gguf", [0.5], rng)
    distilled, b = _arm("distilled-gguf", [0.4], rng)
    deltas, _ = headline_deltas([*dta, *distilled], [], ["distilled-gguf"], {**a, **b})
    assert not [d for d in deltas if d.metric == "pass@1 over seeds"]
    assert seed_rows([*dta, *distilled]) == []

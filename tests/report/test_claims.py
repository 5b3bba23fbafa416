"""The paper's claims table: each verdict follows its interval, and missing data says so."""

from __future__ import annotations

import random

import numpy as np

from dta_edge.analysis.drift import drift_difference
from dta_edge.analysis.token_shift import Lexicon, share_difference
from dta_edge.bench.metrics import SystemSummary
from dta_edge.report.claims import ClaimRoles, paper_claims
from dta_edge.report.collect import LossCurve, ReportData

PROBLEMS = [f"p{i}" for i in range(150)]
ROLES = ClaimRoles(dta="dta", distilled="distilled", big_thinking="big-t", big="big")


def _row(name: str, correct: float, arm: str | None = None, seed: int | None = None):
    return SystemSummary(system=name, problems=len(PROBLEMS), requests=len(PROBLEMS), errors=0,
                         pass_at_1=correct, pass_at_1_ci95=(0.0, 1.0), arm=arm, seed=seed,
                         energy_estimated=True, meter="cpu-time")  # fmt: skip


def _data(**extra) -> ReportData:
    rng = random.Random(5)
    share = {"dta": 0.7, "dta-s1": 0.72, "distilled": 0.3, "distilled-s1": 0.32,
             "big-t": 0.5, "big": 0.5}  # fmt: skip
    scores = {name: {k: float(rng.random() < p) for k in PROBLEMS} for name, p in share.items()}
    arm = {"dta": ("dta", 0), "dta-s1": ("dta", 1), "distilled": ("distilled", 0),
           "distilled-s1": ("distilled", 1)}  # fmt: skip
    systems = tuple(_row(n, sum(s.values()) / len(s), *arm.get(n, (None, None)))
                    for n, s in scores.items())  # fmt: skip
    costs = {  # DTA: half the joules per token of big-t; twice the latency of big
        "dta": {k: (1.0 + rng.random() * 0.1, 10, 0.2 + rng.random() * 0.01) for k in PROBLEMS},
        "big-t": {k: (2.0 + rng.random() * 0.1, 10, 0.3) for k in PROBLEMS},
        "big": {k: (1.0, 10, 0.1 + rng.random() * 0.01) for k in PROBLEMS},
    }  # fmt: skip
    return ReportData(systems=systems, scores=scores, costs=costs, **extra)


def test_verdicts_follow_the_intervals():
    rows = paper_claims(_data(), ROLES)
    by_start = {r.claim.split(":")[0]: r for r in rows}
    accuracy = [r for r in rows if r.claim.startswith("accuracy")]
    assert accuracy[0].verdict == "holds" and "2 vs 2 seeds pooled" in accuracy[0].how
    assert accuracy[1].verdict == "holds"  # 0.71 vs 0.5, seeds and problems resampled
    assert by_start["energy per output token"].verdict == "holds"  # −50%: the paper's side
    assert "(estimated)" in by_start["energy per output token"].ours
    assert by_start["latency"].verdict == "does not hold"  # +100%: the other side
    for name in ("token shift", "drift", "loss", "pairwise"):
        assert by_start[name].verdict == "not measured", name


def test_loss_token_shift_drift_and_pairwise_rows():
    curves = tuple(
        LossCurve(name=name, train=(), eval=((100, loss),), summary={})
        for name, loss in (("dta", 0.10), ("distilled", 0.20), ("dta-seed1", 0.11),
                           ("distilled-seed1", 0.19), ("dta-seed2", 0.12),
                           ("distilled-seed2", 0.22))
    )  # fmt: skip
    token_shift = {"comparisons": [{"a": "distilled", "b": "dta", "class": "logical_discourse",
                                    "share_a": 0.5, "share_b": 0.6, "difference": -0.1,
                                    "ci95": [-0.15, -0.05], "solutions": 40}]}  # fmt: skip
    drift = {"last_layer": 4, "comparisons": [
        {"benchmark": "b1", "layer": 4, "a": "distilled", "b": "dta", "difference": 0.02,
         "ci95": [-0.01, 0.05]},
    ]}  # fmt: skip
    pairwise = ({"a": "dta", "b": "distilled", "judge": "j", "problems_judged": 40,
                 "a_wins": {"count": 0, "ci95": [0.0, 0.09]}, "ties": {"count": 40},
                 "b_wins": {"count": 0, "ci95": [0.0, 0.09]},
                 "first_position_preference": 1.0},)  # fmt: skip
    data = _data(losses=curves, token_shift=token_shift, drift=drift, pairwise=pairwise)
    by_start = {r.claim.split(":")[0]: r for r in paper_claims(data, ROLES)}
    assert by_start["loss"].verdict == "holds" and "3 seeds" in by_start["loss"].how
    shift = by_start["token shift"]  # stored as distilled − dta: the row turns it around
    assert shift.verdict == "holds" and "+10.0 points [+5.0, +15.0]" in shift.ours
    assert by_start["drift"].verdict == "cannot tell"
    assert by_start["pairwise"].verdict == "cannot tell"
    assert "first-shown answer in 1.00" in by_start["pairwise"].how


def test_share_difference_bootstraps_over_solutions():
    lexicon = Lexicon(classes={"logic": ("therefore", "so")})
    a = [{"therefore": 2.0, "watt": 1.0}, {"so": 1.0, "watt": 0.5}] * 10
    b = [{"therefore": 0.5, "watt": 2.0}, {"so": 0.2, "watt": 1.5}] * 10
    found = share_difference({"a": a, "b": b}, "a", "b", lexicon, "logic", resamples=300)
    assert found["share_a"] == 3.0 / 4.5 and found["share_b"] == 0.7 / 4.2
    low, high = found["ci95"]
    assert 0 < low <= found["difference"] <= high


def test_drift_difference_is_paired_by_prompt():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 8)) + 5
    near, far = base + 0.1, base + 1.0
    found = drift_difference(base, near, far, resamples=200)
    assert found["difference"] < 0 and found["ci95"][1] < 0


def test_claims_from_the_command_line(tmp_path):
    import pytest

    from dta_edge.errors import DataError
    from dta_edge.report.claims import parse_roles

    roles = parse_roles("dta=a, distilled=b,big-thinking=c")
    assert (roles.dta, roles.distilled, roles.big_thinking, roles.big) == ("a", "b", "c", None)
    with pytest.raises(DataError, match="did you mean 'distilled'"):
        parse_roles("dta=a,distiled=b")
    with pytest.raises(DataError, match="distilled"):
        parse_roles("dta=a")
    with pytest.raises(DataError, match="not KEY=SYSTEM"):
        parse_roles("dta")

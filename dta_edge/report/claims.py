"""The paper's claims, each held against what a run measured: ours, an interval, a verdict.

A verdict needs an interval. "holds" means the 95% interval lies wholly on the paper's side of
zero, "does not hold" wholly on the other, "cannot tell" that it spans zero. "not measured"
means the run has no data for the claim. The paper's figure is quoted as reported, never
computed here. The interval comes from what the figure rests on:
- seeds and problems for accuracy between two arms trained with several seeds;
- problems for a ratio of costs, and for accuracy against a single run;
- solutions for token-shift shares, prompts for drift, seeds for eval loss;
- the judge's verdicts for pairwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from dta_edge.config import FrozenModel
from dta_edge.report.collect import ReportData
from dta_edge.report.deltas import arms
from dta_edge.tasks.paired import paired_difference, seeded_difference

Verdict = Literal["holds", "does not hold", "cannot tell", "not measured"]


class ClaimRoles(FrozenModel):
    """Which measured rows play the paper's parts (system names, and training-run prefixes)."""

    dta: str
    distilled: str
    big_thinking: str | None = None
    big: str | None = None
    dta_runs: str = "dta"  # training folders: "dta", "dta-seed1", ...
    distilled_runs: str = "distilled"


def parse_roles(text: str) -> ClaimRoles:
    """``dta=SYSTEM,distilled=SYSTEM,...`` from the command line into roles.

    Raises:
        DataError: a part that is not KEY=VALUE, an unknown key, or dta/distilled missing.
    """
    from pydantic import ValidationError

    from dta_edge.errors import DataError

    fields = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise DataError(f"--claims: {part!r} is not KEY=SYSTEM")
        name = key.strip().replace("-", "_")
        if name not in ClaimRoles.model_fields:
            import difflib

            near = difflib.get_close_matches(name, list(ClaimRoles.model_fields), n=1)
            hint = f" (did you mean '{near[0].replace('_', '-')}'?)" if near else ""
            raise DataError(f"--claims: unknown key '{key.strip()}'{hint}; keys: dta, "
                            "distilled, big-thinking, big, dta-runs, distilled-runs")  # fmt: skip
        fields[name] = value.strip()
    try:
        return ClaimRoles.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(x) for x in first["loc"]).replace("_", "-")
        raise DataError(
            f"--claims: {where}: {first['msg']} (keys: dta, distilled, "
            "big-thinking, big, dta-runs, distilled-runs)"
        ) from None


class ClaimRow(FrozenModel):
    """One line of the table."""

    claim: str
    paper: str
    ours: str
    verdict: Verdict
    how: str


def _verdict(low: float, high: float, paper_side: Literal[1, -1]) -> Verdict:
    """``paper_side`` 1: the paper says the difference is positive; -1: negative."""
    if paper_side * low > 0 and paper_side * high > 0:
        return "holds"
    if paper_side * low < 0 and paper_side * high < 0:
        return "does not hold"
    return "cannot tell"


def _signed(value: float, digits: int = 1) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def _missing(claim: str, paper: str, why: str) -> ClaimRow:
    return ClaimRow(claim=claim, paper=paper, ours="–", verdict="not measured", how=why)


def _seeds_of(data: ReportData, system: str) -> list[str]:
    for (_, _arm), members in arms(data.systems).items():
        if system in {m.system for m in members}:
            return [m.system for m in members]
    return [system]


def _accuracy(data: ReportData, claim: str, paper: str, mine: str, theirs: str | None):
    if theirs is None or mine not in data.scores or theirs not in data.scores:
        return _missing(claim, paper, "no per-problem scores for both systems")
    a, b = _seeds_of(data, mine), _seeds_of(data, theirs)
    if len(a) > 1 or len(b) > 1:
        pooled = seeded_difference([data.scores[s] for s in a], [data.scores[s] for s in b])
        if pooled is not None:
            ours = (f"{_signed(pooled.points)} points [{_signed(pooled.low)}, "
                    f"{_signed(pooled.high)}] (measured)")  # fmt: skip
            how = (f"pass@1, {len(a)} vs {len(b)} seeds pooled, {pooled.problems} problems; "
                   "hierarchical bootstrap (seeds, then problems)")  # fmt: skip
            return ClaimRow(claim=claim, paper=paper, ours=ours, how=how,
                            verdict=_verdict(pooled.low, pooled.high, 1))  # fmt: skip
    paired = paired_difference(data.scores[mine], data.scores[theirs])
    if paired is None:
        return _missing(claim, paper, "the two systems share no problem")
    ours = f"{_signed(paired.points)} points [{_signed(paired.low)}, {_signed(paired.high)}]"
    return ClaimRow(claim=claim, paper=paper, ours=f"{ours} (measured)",
                    how=f"pass@1, one run each, {paired.problems} problems; paired bootstrap",
                    verdict=_verdict(paired.low, paired.high, 1))  # fmt: skip


def _ratio_interval(data: ReportData, mine: str, theirs: str, kind: Literal["energy", "latency"]):
    """Percent change of A over B with a bootstrap over shared problems, or None."""
    import numpy as np

    a, b = data.costs.get(mine, {}), data.costs.get(theirs, {})
    shared = sorted(set(a) & set(b))
    if kind == "energy":
        shared = [k for k in shared if a[k][0] is not None and b[k][0] is not None]
    else:
        shared = [k for k in shared if a[k][2] is not None and b[k][2] is not None]
    if len(shared) < 2:
        return None
    if kind == "energy":
        cols = [np.array([[a[k][0], a[k][1]] for k in shared], dtype=float),
                np.array([[b[k][0], b[k][1]] for k in shared], dtype=float)]  # fmt: skip

        def statistic(rows_a, rows_b):  # J per output token, summed over problems
            per_a = rows_a[:, 0].sum() / max(rows_a[:, 1].sum(), 1)
            per_b = rows_b[:, 0].sum() / max(rows_b[:, 1].sum(), 1)
            return (per_a / per_b - 1) * 100 if per_b else math.nan
    else:
        cols = [np.array([a[k][2] for k in shared]), np.array([b[k][2] for k in shared])]

        def statistic(rows_a, rows_b):  # median seconds per problem
            median_b = float(np.median(rows_b))
            return (float(np.median(rows_a)) / median_b - 1) * 100 if median_b else math.nan

    rng = np.random.default_rng(0)
    n = len(shared)
    draws = []
    for _ in range(2000):
        pick = rng.integers(0, n, n)
        draws.append(statistic(cols[0][pick], cols[1][pick]))
    low, high = np.nanquantile(draws, [0.025, 0.975])
    return statistic(cols[0], cols[1]), float(low), float(high), n


def _cost(data: ReportData, claim: str, paper: str, mine: str, theirs: str | None, kind):
    if theirs is None:
        return _missing(claim, paper, "no such baseline in this run")
    found = _ratio_interval(data, mine, theirs, kind)
    if found is None:
        return _missing(claim, paper, f"no per-problem {kind} for both systems")
    value, low, high, n = found
    label = "measured"
    if kind == "energy":
        row = next((s for s in data.systems if s.system == mine), None)
        label = "estimated" if row is None or row.energy_estimated else "measured"
    what = "energy per output token" if kind == "energy" else "median end-to-end latency"
    return ClaimRow(claim=claim, paper=paper,
                    ours=f"{_signed(value, 0)}% [{_signed(low, 0)}, {_signed(high, 0)}] ({label})",
                    how=f"{what}, {n} problems; bootstrap over problems (the timing noise "
                        "between runs is not in it)",
                    verdict=_verdict(low, high, -1))  # fmt: skip


def _pair(comparisons: Sequence[dict], a: str, b: str) -> tuple[dict, int] | None:
    """The comparison of A and B in either order, and the sign that makes it A - B."""
    for row in comparisons:
        if (row.get("a"), row.get("b")) == (a, b):
            return row, 1
        if (row.get("a"), row.get("b")) == (b, a):
            return row, -1
    return None


def _token_shift(data: ReportData, dta: str, distilled: str) -> ClaimRow:
    claim = "token shift: DTA gains more on logical/discourse markers than distilled-only"
    paper = "DTA's gain concentrates on logical/discourse markers, not domain nouns (reported)"
    rows = [r for r in data.token_shift.get("comparisons", [])
            if r.get("class") == "logical_discourse"]  # fmt: skip
    found = _pair(rows, dta, distilled)
    if found is None:
        return _missing(claim, paper, "no token-shift comparison of the two students")
    row, sign = found
    low, high = sorted(sign * 100 * v for v in row["ci95"])
    share = {dta: row["share_a"], distilled: row["share_b"]} if sign == 1 else {
        dta: row["share_b"], distilled: row["share_a"]}  # fmt: skip
    ours = (f"logical/discourse share of positive gain {share[dta] * 100:.1f}% vs "
            f"{share[distilled] * 100:.1f}%: {_signed(sign * 100 * row['difference'])} points "
            f"[{_signed(low)}, {_signed(high)}] (measured)")  # fmt: skip
    return ClaimRow(claim=claim, paper=paper, ours=ours, verdict=_verdict(low, high, 1),
                    how=f"{row['solutions']} held-out reference solutions; bootstrap over "
                        "solutions")  # fmt: skip


def _drift(data: ReportData, dta: str, distilled: str) -> ClaimRow:
    claim = "drift: DTA's hidden states move less from the base than distilled-only's"
    paper = "DTA stays closer to the base in PCA of hidden states (reported)"
    drift = data.drift
    rows = [r for r in drift.get("comparisons", []) if r["layer"] == drift.get("last_layer")]
    parts, verdicts = [], []
    for bench in dict.fromkeys(r["benchmark"] for r in rows):
        found = _pair([r for r in rows if r["benchmark"] == bench], dta, distilled)
        if found is None:
            continue
        row, sign = found
        low, high = sorted(sign * 100 * v for v in row["ci95"])
        verdicts.append(_verdict(low, high, -1))
        parts.append(f"{bench} {_signed(sign * 100 * row['difference'])} points "
                     f"[{_signed(low)}, {_signed(high)}], {verdicts[-1]}")  # fmt: skip
    if not parts:
        return _missing(claim, paper, "no drift comparison of the two students")
    verdict: Verdict = verdicts[0] if len(set(verdicts)) == 1 else "cannot tell"
    return ClaimRow(claim=claim, paper=paper, verdict=verdict,
                    ours="DTA − distilled, relative centroid distance at the last layer: "
                         + "; ".join(parts) + " (measured)",
                    how="per benchmark, bootstrap over prompts (paired); one verdict where "
                        "the benchmarks agree, else cannot tell")  # fmt: skip


def _final_eval(curve) -> float | None:
    if curve.eval:
        return curve.eval[-1][1]
    value = curve.summary.get("eval_loss")
    return None if value is None else float(value)


def _loss(data: ReportData, roles: ClaimRoles) -> ClaimRow:
    claim = "loss: the DTA set trains to a lower eval loss than the distilled-only set"
    paper = "lower loss on the DTA set in the same steps (reported)"
    curves = {c.name: c for c in data.losses}
    differences = []
    for name, curve in curves.items():
        if name == roles.dta_runs or name.startswith(f"{roles.dta_runs}-seed"):
            twin = roles.distilled_runs + name[len(roles.dta_runs) :]
            if twin in curves:
                mine, theirs = _final_eval(curve), _final_eval(curves[twin])
                if mine is not None and theirs is not None:
                    differences.append(mine - theirs)
    if not differences:
        return _missing(claim, paper, "no eval losses of both sets")
    mean = sum(differences) / len(differences)
    if len(differences) < 2:
        return ClaimRow(claim=claim, paper=paper, verdict="cannot tell",
                        ours=f"{_signed(mean, 3)} nats (one seed: no interval; measured)",
                        how="final eval loss, each set's own split")  # fmt: skip
    from scipy import stats

    spread = stats.tstd(differences) / math.sqrt(len(differences))
    margin = float(stats.t.ppf(0.975, len(differences) - 1)) * spread
    low, high = mean - margin, mean + margin
    return ClaimRow(claim=claim, paper=paper, verdict=_verdict(low, high, -1),
                    ours=f"{_signed(mean, 3)} nats [{_signed(low, 3)}, {_signed(high, 3)}] "
                         f"(measured)",
                    how=f"final eval loss DTA − distilled, {len(differences)} seeds, t interval "
                        "over seeds; each set's own eval split")  # fmt: skip


def _pairwise(data: ReportData, dta: str, distilled: str) -> ClaimRow:
    claim = "pairwise: a judge prefers DTA's answers to distilled-only's"
    paper = "the LLM judge prefers DTA (reported)"
    for p in data.pairwise:
        if {p.get("a"), p.get("b")} != {dta, distilled}:
            continue
        mine, theirs = ("a_wins", "b_wins") if p["a"] == dta else ("b_wins", "a_wins")
        win, loss = p[mine], p[theirs]
        verdict: Verdict = "cannot tell"
        if win["ci95"][0] > loss["ci95"][1]:
            verdict = "holds"
        elif loss["ci95"][0] > win["ci95"][1]:
            verdict = "does not hold"
        bias = p.get("first_position_preference")
        note = (f"; the judge preferred the first-shown answer in {bias:.2f} of its verdicts"
                if bias is not None and bias >= 0.9 else "")  # fmt: skip
        ours = (f"DTA wins {win['count']}, ties {p['ties']['count']}, losses {loss['count']} "
                f"of {p['problems_judged']} (measured)")  # fmt: skip
        return ClaimRow(claim=claim, paper=paper, ours=ours, verdict=verdict,
                        how=f"judge {p['judge']}, both orders; Wilson intervals of the win and "
                            f"loss rates{note}")  # fmt: skip
    return _missing(claim, paper, "no pairwise judging of the two students")


def paper_claims(data: ReportData, roles: ClaimRoles) -> list[ClaimRow]:
    """Every claim the paper makes that this run can test, in the paper's order."""
    return [
        _accuracy(data, "accuracy: DTA vs distilled-only (pass@1, no thinking)",
                  "+17.65 points (reported; TeleMath)", roles.dta, roles.distilled),
        _accuracy(data, "accuracy: DTA (no thinking) vs the big baseline with thinking",
                  "+2.94 points vs Qwen3-32B thinking (reported)", roles.dta,
                  roles.big_thinking),
        _cost(data, "energy per output token: DTA vs the big baseline with thinking",
              "about −42% vs Qwen3-32B thinking (reported)", roles.dta, roles.big_thinking,
              "energy"),
        _cost(data, "latency: DTA vs the big baseline without thinking",
              "about −60% vs Qwen3-32B non-thinking (reported)", roles.dta, roles.big,
              "latency"),
        _token_shift(data, roles.dta_runs, roles.distilled_runs),
        _drift(data, roles.dta_runs, roles.distilled_runs),
        _loss(data, roles),
        _pairwise(data, roles.dta, roles.distilled),
    ]  # fmt: skip

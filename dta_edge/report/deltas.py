"""Headline deltas against chosen baselines, phrased as the paper does.

Only measured rows enter a delta. A baseline that is a reported (quoted) row is refused with a
note, and energy is compared only between two measured meters or two estimated ones. Given the
per-problem scores, every accuracy delta carries its paired 95% interval (bootstrap over the
shared problems) and McNemar's exact p-value; against a k-sample baseline it is also computed
against the baseline's cons@k. Where both rows are one seed of an arm trained with several
(``arm`` in the suite), one more line pools each arm's seeds, its interval resampling seeds and
then problems: one training run is one draw, and only that line says how much a seed moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dta_edge.bench.metrics import SystemSummary
from dta_edge.bench.suite import ReportedSystem
from dta_edge.config import FrozenModel
from dta_edge.errors import DataError
from dta_edge.tasks.paired import PairedDifference, paired_difference, seeded_difference

Scores = Mapping[str, Mapping[str, float]]  # system -> problem id -> score in 0..1


class Delta(FrozenModel):
    """One headline number."""

    system: str
    baseline: str
    metric: str
    value: float
    unit: str
    text: str
    low: float | None = None  # paired 95% interval of an accuracy delta, in points
    high: float | None = None
    p_value: float | None = None


def _signed(value: float, digits: int) -> str:
    return f"{'+' if value >= 0 else '−'}{abs(value):.{digits}f}"


def _ratio(metric: str, unit_label: str, s: SystemSummary, b: SystemSummary, mine, theirs):
    if mine is None or theirs in (None, 0):
        return None
    change = (mine / theirs - 1) * 100
    return Delta(system=s.system, baseline=b.system, metric=metric, value=change, unit="%",
                 text=f"{unit_label} {_signed(change, 0)}% vs {b.system}")  # fmt: skip


def _accuracy(
    s: SystemSummary,
    base: SystemSummary,
    metric: str,
    theirs: float,
    paired: PairedDifference | None,
) -> Delta:
    points = (s.pass_at_1 - theirs) * 100
    text = f"pass@1 {_signed(points, 2)} points"
    if metric != "pass@1":
        text += f" against {metric}"
    if paired is None:
        return Delta(system=s.system, baseline=base.system, metric=metric, value=points,
                     unit="points", text=f"{text} vs {base.system}")  # fmt: skip
    text += f" [paired 95% CI {_signed(paired.low, 1)}, {_signed(paired.high, 1)}"
    if paired.p_value is not None:
        text += f"; McNemar p={paired.p_value:.2g}"
    return Delta(system=s.system, baseline=base.system, metric=metric, value=points,
                 unit="points", text=f"{text}] vs {base.system}", low=paired.low,
                 high=paired.high, p_value=paired.p_value)  # fmt: skip


def arms(systems: Sequence[SystemSummary]) -> dict[tuple[str | None, str], list[SystemSummary]]:
    """(run, arm) -> the systems that are its seeds, in seed order."""
    found: dict[tuple[str | None, str], list[SystemSummary]] = {}
    for s in systems:
        if s.arm is not None:
            found.setdefault((s.run, s.arm), []).append(s)
    return {key: sorted(rows, key=lambda r: (r.seed is None, r.seed or 0))
            for key, rows in found.items()}  # fmt: skip


def _over_seeds(
    s: SystemSummary, base: SystemSummary, groups: dict, scores: Scores
) -> Delta | None:
    """A's seeds against B's, pooled, when both rows belong to arms of two seeds or more."""
    mine, theirs = groups.get((s.run, s.arm)), groups.get((base.run, base.arm))
    if not mine or not theirs or s.arm == base.arm or min(len(mine), len(theirs)) < 2:
        return None
    if any(row.system not in scores for row in (*mine, *theirs)):
        return None
    pooled = seeded_difference([scores[row.system] for row in mine],
                               [scores[row.system] for row in theirs])  # fmt: skip
    if pooled is None:
        return None
    text = (
        f"pass@1 {_signed(pooled.points, 2)} points pooled over {len(mine)} vs {len(theirs)} "
        f"seeds [hierarchical 95% CI {_signed(pooled.low, 1)}, {_signed(pooled.high, 1)}; "
        f"seeds, then problems] vs {base.arm} ({base.system} and its other seeds)"
    )
    return Delta(system=s.system, baseline=base.system, metric="pass@1 over seeds",
                 value=pooled.points, unit="points", text=text, low=pooled.low,
                 high=pooled.high)  # fmt: skip


def headline_deltas(
    systems: Sequence[SystemSummary],
    reported: Sequence[ReportedSystem],
    baselines: Sequence[str],
    scores: Scores | None = None,
    votes: Scores | None = None,
    only: Sequence[str] | None = None,
) -> tuple[list[Delta], list[str]]:
    """Deltas of every measured system against each measured baseline, plus notes on refusals.

    ``scores`` (and ``votes`` for k-sample systems) are per-problem results, as
    :func:`dta_edge.bench.metrics.per_problem_scores` gives them: with them, accuracy deltas
    carry paired intervals. ``only`` names the systems whose deltas are wanted (default: all),
    so a headline can state the comparisons a paper makes and no others.
    """
    scores, votes = scores or {}, votes or {}
    deltas: list[Delta] = []
    notes: list[str] = []

    def paired(s: SystemSummary, base: SystemSummary, table: Scores) -> PairedDifference | None:
        if s.system not in scores or base.system not in table:
            return None
        result = paired_difference(scores[s.system], table[base.system])
        if result is None or not result.problems == s.problems == base.problems:
            notes.append(f"{s.system} vs {base.system}: no paired interval (the results files "
                         f"share {result.problems if result else 0} problems; the summaries "
                         f"count {s.problems} and {base.problems})")  # fmt: skip
            return None
        return result

    measured = {s.system: s for s in systems}
    groups = arms(systems)
    quoted = {r.name for r in reported}
    for name in baselines:
        if name not in measured:
            held = sorted(m for m in measured if m.endswith(f":{name}"))
            if held:  # a name several runs hold is never picked from one of them silently
                raise DataError(
                    f"baseline '{name}' is in {len(held)} runs ({', '.join(held)}); name one of "
                    "them as run:system"
                )
            if name in quoted:
                notes.append(f"{name} is a reported (quoted) row: no measured delta is computed "
                             "against it")  # fmt: skip
                continue
            known = ", ".join(sorted(measured) + sorted(quoted)) or "none"
            raise DataError(f"baseline '{name}' is not among the systems ({known})")
        base = measured[name]
        for s in systems:
            if s.system == name or (only is not None and s.system not in only):
                continue
            deltas.append(_accuracy(s, base, "pass@1", base.pass_at_1,
                                    paired(s, base, scores)))  # fmt: skip
            seeded = _over_seeds(s, base, groups, scores)
            if seeded is not None:
                deltas.append(seeded)
            if base.cons_at_k is not None:
                deltas.append(_accuracy(s, base, f"cons@{base.k}", base.cons_at_k,
                                        paired(s, base, votes)))  # fmt: skip
            comparable = s.energy_estimated is not None and (
                s.energy_estimated == base.energy_estimated
                and (not s.energy_estimated or s.meter == base.meter)  # one power model
            )
            if comparable:
                kind = "estimated" if s.energy_estimated else "measured"
                for metric, label, mine, theirs in (
                    ("J/token", f"energy per output token ({kind})", s.joules_per_output_token,
                     base.joules_per_output_token),
                    ("J/correct", f"energy per correct answer ({kind})", s.joules_per_correct,
                     base.joules_per_correct),
                ):  # fmt: skip
                    delta = _ratio(metric, label, s, base, mine, theirs)
                    if delta:
                        deltas.append(delta)
            elif s.joules_per_output_token is not None and base.joules_per_output_token:
                why = ("measured vs estimated" if s.energy_estimated != base.energy_estimated
                       else f"estimated by {s.meter} vs {base.meter}")  # fmt: skip
                notes.append(f"{s.system} vs {name}: energy not compared ({why})")
            delta = _ratio("latency", "median end-to-end latency", s, base,
                           s.latency_median_s, base.latency_median_s)  # fmt: skip
            if delta:
                deltas.append(delta)
    return deltas, notes

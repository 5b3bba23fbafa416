"""Headline deltas against chosen baselines, phrased as the paper does.

Only measured rows enter a delta. A baseline that is a reported (quoted) row is refused with a
note, and energy is compared only between two measured meters or two estimated ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from dta_edge.bench.metrics import SystemSummary
from dta_edge.bench.suite import ReportedSystem
from dta_edge.config import FrozenModel
from dta_edge.errors import DataError


class Delta(FrozenModel):
    """One headline number."""

    system: str
    baseline: str
    metric: str
    value: float
    unit: str
    text: str


def _signed(value: float, digits: int) -> str:
    return f"{'+' if value >= 0 else '−'}{abs(value):.{digits}f}"


def _ratio(metric: str, unit_label: str, s: SystemSummary, b: SystemSummary, mine, theirs):
    if mine is None or theirs in (None, 0):
        return None
    change = (mine / theirs - 1) * 100
    return Delta(system=s.system, baseline=b.system, metric=metric, value=change, unit="%",
                 text=f"{unit_label} {_signed(change, 0)}% vs {b.system}")  # fmt: skip


def headline_deltas(
    systems: Sequence[SystemSummary],
    reported: Sequence[ReportedSystem],
    baselines: Sequence[str],
) -> tuple[list[Delta], list[str]]:
    """Deltas of every measured system against each measured baseline, plus notes on refusals."""
    measured = {s.system: s for s in systems}
    quoted = {r.name for r in reported}
    deltas: list[Delta] = []
    notes: list[str] = []
    for name in baselines:
        if name not in measured:
            if name in quoted:
                notes.append(f"{name} is a reported (quoted) row: no measured delta is computed "
                             "against it")  # fmt: skip
                continue
            known = ", ".join(sorted(measured) + sorted(quoted)) or "none"
            raise DataError(f"baseline '{name}' is not among the systems ({known})")
        base = measured[name]
        for s in systems:
            if s.system == name:
                continue
            points = (s.pass_at_1 - base.pass_at_1) * 100
            deltas.append(Delta(system=s.system, baseline=name, metric="pass@1", value=points,
                                unit="points",
                                text=f"pass@1 {_signed(points, 2)} points vs {name}"))  # fmt: skip
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

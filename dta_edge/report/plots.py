"""The report's plots as inline SVG strings (matplotlib, text kept as text, no external files)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from dta_edge.bench.metrics import SystemSummary
from dta_edge.plot_text import literal


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: inlined in HTML


def _figure(width: float = 6.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    return plt.subplots(figsize=(width, height), dpi=100)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats (lower cost x, higher accuracy y)."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (ox <= x and oy >= y) and (ox < x or oy > y) for j, (ox, oy) in enumerate(points)
            if j != i
        )  # fmt: skip
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


# where a point's label may sit, in points from it: tried in this order until one is free
LABEL_OFFSETS = ((4, 4), (4, -10), (-4, 4), (-4, -10), (4, 14), (4, -20), (-4, 14), (-4, -20),
                 (4, 24), (4, -30), (-4, 24), (-4, -30))  # fmt: skip


def label_points(figure, axes, rows: Sequence[tuple[float, float, str]]) -> list:
    """Name every (x, y, name) point where its label overlaps no label placed before it.

    Points are taken from the top; each label tries the offsets of LABEL_OFFSETS in turn (the
    last one stays if none is free). Returns the labels' boxes in display units.
    """
    axes.set_xlim(axes.get_xlim())  # fix the view first: labels must not move it afterwards
    axes.set_ylim(axes.get_ylim())
    renderer = figure.canvas.get_renderer()
    boxes: list = []
    for x, y, name in sorted(rows, key=lambda r: (-r[1], r[0])):
        for index, (dx, dy) in enumerate(LABEL_OFFSETS):
            text = axes.annotate(
                literal(name),
                (x, y),
                fontsize=7,
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx > 0 else "right",
            )
            box = text.get_window_extent(renderer)
            if index == len(LABEL_OFFSETS) - 1 or not any(box.overlaps(b) for b in boxes):
                boxes.append(box)
                break
            text.remove()
    return boxes


def accuracy_vs(systems: Sequence[SystemSummary], attribute: str, label: str) -> str | None:
    """pass@1 against a cost; the Pareto front drawn through the systems it keeps.

    On an energy axis every point says how its energy was found: filled for measured, hollow
    for estimated (the legend names both).
    """
    rows = [(getattr(s, attribute), s.pass_at_1 * 100, s.system) for s in systems
            if getattr(s, attribute) is not None]  # fmt: skip
    if not rows:
        return None
    figure, axes = _figure()
    if attribute.startswith("joules"):
        kinds = [s.energy_estimated for s in systems if getattr(s, attribute) is not None]
        for estimated, style in ((False, {"color": "#1f77b4", "label": "measured energy"}),
                                 (True, {"facecolors": "none", "edgecolors": "#1f77b4",
                                         "label": "estimated energy"})):  # fmt: skip
            chosen = [r for r, kind in zip(rows, kinds, strict=True) if bool(kind) == estimated]
            if chosen:
                axes.scatter([r[0] for r in chosen], [r[1] for r in chosen], zorder=3, **style)
    else:
        axes.scatter([r[0] for r in rows], [r[1] for r in rows], color="#1f77b4", zorder=3)
    label_points(figure, axes, rows)
    front = pareto_front([(r[0], r[1]) for r in rows])
    axes.plot([rows[i][0] for i in front], [rows[i][1] for i in front], "--", color="#d62728",
              label="Pareto front", zorder=2)  # fmt: skip
    axes.set_xlabel(label)
    axes.set_ylabel("pass@1 (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _svg(figure)


def roofline(systems: Sequence[SystemSummary]) -> str | None:
    """Achieved decode bandwidth per system as a bar, its device's ceiling as a tick beside it."""
    rows = [s for s in systems if s.decode_bandwidth_gbs is not None and s.memory_bandwidth_gbs]
    if not rows:
        return None
    figure, axes = _figure(height=max(2.0, 0.45 * len(rows) + 1.2))
    names = [literal(s.system) for s in rows]
    positions = range(len(rows))
    axes.barh(positions, [s.decode_bandwidth_gbs for s in rows], color="#1f77b4",
              label="achieved (bytes per token x decode tokens/s)")  # fmt: skip
    axes.scatter([s.memory_bandwidth_gbs for s in rows], positions, marker="|", s=400,
                 color="#d62728", label="device ceiling (profile)", zorder=3)  # fmt: skip
    for y, s in zip(positions, rows, strict=True):
        axes.annotate(f"{s.bandwidth_share * 100:.1f}%", (s.decode_bandwidth_gbs, y),
                      fontsize=7, xytext=(4, -3), textcoords="offset points")  # fmt: skip
    axes.set_yticks(list(positions), names, fontsize=7)
    axes.set_xlabel("memory bandwidth (GB/s)")
    axes.grid(alpha=0.3, axis="x")
    axes.legend(fontsize=7, loc="lower right")
    return _svg(figure)


def latency_cdf(latencies: dict[str, Sequence[float]]) -> str | None:
    """Empirical CDF of end-to-end latency per answered problem."""
    if not latencies:
        return None
    figure, axes = _figure()
    for name, values in sorted(latencies.items()):
        ordered = sorted(values)
        axes.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], where="post",
                  label=literal(name))  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("end-to-end latency per problem (s, log)")
    axes.set_ylabel("share of problems")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return _svg(figure)


def loss_curves(curves) -> str | None:
    """Train and held-out loss of every training run (DTA vs distilled-only side by side)."""
    if not curves:
        return None
    figure, axes = _figure()
    for index, curve in enumerate(curves):
        color = f"C{index}"
        if curve.train:
            axes.plot(
                *zip(*curve.train, strict=True),
                "-",
                color=color,
                label=literal(f"{curve.name} train"),
            )
        if curve.eval:
            axes.plot(*zip(*curve.eval, strict=True), "o--", color=color, markersize=3,
                      label=literal(f"{curve.name} eval"))  # fmt: skip
    axes.set_xlabel("optimiser step")
    axes.set_ylabel("loss (assistant tokens)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return _svg(figure)


def funnel(stages: dict[str, int], title: str) -> str:
    """Horizontal bars: how many items survive each curation stage."""
    figure, axes = _figure(6.0, 0.5 + 0.45 * len(stages))
    names = list(stages)[::-1]
    axes.barh([literal(n) for n in names], [stages[n] for n in names], color="#2ca02c")
    for y, name in enumerate(names):
        axes.text(stages[name], y, f" {stages[name]}", va="center", fontsize=8)
    axes.set_title(literal(title), fontsize=9)
    axes.set_xlabel("items")
    return _svg(figure)


def export_parity(exports) -> str | None:
    """Top-1 agreement with the source model per export (where measured)."""
    rows = [(e.name, e.parity["top1_agreement"] * 100) for e in exports
            if "top1_agreement" in e.parity]  # fmt: skip
    if not rows:
        return None
    figure, axes = _figure(6.0, 0.6 + 0.45 * len(rows))
    axes.barh([literal(r[0]) for r in rows], [r[1] for r in rows], color="#9467bd")
    for y, (_, value) in enumerate(rows):
        axes.text(value, y, f" {value:.2f}%", va="center", fontsize=8)
    axes.set_xlim(min(r[1] for r in rows) - 5, 101)
    axes.set_xlabel("top-1 agreement with the source model (%)")
    return _svg(figure)

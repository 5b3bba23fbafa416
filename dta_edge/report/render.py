"""Write report.md, report.html (one self-contained file) and results.csv."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from dta_edge.bench.metrics import SystemSummary
from dta_edge.layout import DISTILLED, REPORT_HTML, REPORT_MD, RESULTS_CSV, SFT
from dta_edge.report import plots
from dta_edge.report.collect import ReportData
from dta_edge.report.deltas import Delta
from dta_edge.report.escape import csv_cell, md
from dta_edge.runs import recorded
from dta_edge.storage import atomic_write_text
from dta_edge.tasks.protocols import PROTOCOLS

CSV_FIELDS = (
    "label", "system", "run", "backend", "model", "model_mib", "quantization", "thinking", "arm",
    "seed", "k", "problems", "requests", "errors", "pass_at_1", "pass_at_1_ci95_low",
    "pass_at_1_ci95_high", "protocol",
    *(f"pass_at_1_{name.replace('-', '_')}" for name in PROTOCOLS),
    "cons_at_k", "latency_median_s", "latency_p90_s", "ttft_median_s", "decode_tokens_per_s_median",
    "output_tokens_per_problem", "joules_per_output_token", "joules_per_correct", "meter",
    "energy_estimated", "energy_method", "device", "profile", "decode_bytes_per_token",
    "decode_bandwidth_gbs", "memory_bandwidth_gbs", "bandwidth_share", "decode_gflops",
    "compute_ceiling_gflops", "compute_share", "roofline_binding", "prefill_tflops",
    "prefill_share",
)  # fmt: skip


def roofline_cell(s: SystemSummary) -> str:
    """Decode against its ceilings: GB/s (share), GFLOP/s (share), which one binds.

    The compute part appears where the profile timed the kernels and the model is a GGUF.
    """
    parts = []
    if s.bandwidth_share is not None:
        parts.append(f"{s.decode_bandwidth_gbs:.3g} of {s.memory_bandwidth_gbs:.3g} GB/s "
                     f"({s.bandwidth_share * 100:.1f}%)")  # fmt: skip
    if s.compute_share is not None:
        parts.append(f"{s.decode_gflops:.3g} of {s.compute_ceiling_gflops:.3g} GFLOP/s "
                     f"({s.compute_share * 100:.1f}%)")  # fmt: skip
    if not parts:
        return "–"
    binds = f"; {s.roofline_binding} binds" if s.roofline_binding else ""  # both ceilings known
    return ", ".join(parts) + binds


def fmt(value: float | None, spec: str = ".3g") -> str:
    """A number for a table cell; a dash when there is none."""
    return "–" if value is None else format(value, spec)


def funnel_rows(funnel: dict) -> list[tuple[str, int]]:
    """The funnel's main stages, in order (the decontamination check where the run had one)."""
    check = funnel.get("decontamination")
    verb = "dropped" if check and check["dropped"] else "flagged"
    checked = [
        (f"problems checked against {check['bench_questions']} bench questions",
         check["problems_checked"]),
        (f"  {verb}: they carry a bench question", check["problems_caught"]),
    ] if check else []  # fmt: skip
    caught = [(f"solutions {verb}: they carry a bench question", check["solutions_caught"])
              ] if check else []  # fmt: skip
    return [
        *checked,
        ("problems", funnel["problems"]),
        ("Phase I candidates", funnel["phase1"]["candidates"]),
        ("  of which synthetic wrong", funnel["phase1"]["synthetic_wrong"]),
        ("agreed", funnel["agreement"]["agreed"]),
        ("Phase II rewrites kept (NLL lowered)", funnel["phase2"]["kept"]),
        ("accepted by the judge", funnel["judge"]["accepted"]),
        *caught,
        (f"DTA set ({SFT})", funnel["outputs"][SFT]),
        ("distilled-only set", funnel["outputs"][DISTILLED]),
    ]


def other_protocols(system) -> str:
    """pass@1 under the protocols other than the one behind the row's pass@1, or a dash."""
    others = [f"{value * 100:.1f} {name}" for name, value in system.pass_at_1_by_protocol.items()
              if name != system.protocol]  # fmt: skip
    return "; ".join(others) or "–"


def headline_lines(deltas: Sequence[Delta]) -> list[tuple[str, str]]:
    """One line per (system, baseline): its deltas joined, as "pass@1 +4.17 points, ... vs B"."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for delta in deltas:
        grouped.setdefault((delta.system, delta.baseline), []).append(
            delta.text.removesuffix(f" vs {delta.baseline}")
        )
    return [(system, "; ".join(parts) + f" vs {baseline}")
            for (system, baseline), parts in grouped.items()]  # fmt: skip


def build_plots(data: ReportData) -> list[tuple[str, str]]:
    """(caption, svg) for every plot the data supports."""
    energy = plots.accuracy_vs(data.systems, "joules_per_correct", "J per correct answer")
    caption = "Accuracy vs energy per correct answer (Pareto front dashed)"
    if energy is None:  # nothing solved anywhere: per output token still ranks the cost
        energy = plots.accuracy_vs(data.systems, "joules_per_output_token", "J per output token")
        caption = "Accuracy vs energy per output token (no system solved a problem; Pareto dashed)"
    made = [
        (caption, energy),
        ("Accuracy vs median end-to-end latency (Pareto front dashed)",
         plots.accuracy_vs(data.systems, "latency_median_s", "median latency per problem (s)")),
        ("Latency CDF per answered problem", plots.latency_cdf(data.latencies)),
        ("Loss curves: DTA vs distilled-only", plots.loss_curves(data.losses)),
        ("Export parity", plots.export_parity(data.exports)),
        ("Roofline: decode bandwidth achieved against each device's ceiling",
         plots.roofline(data.systems)),
    ]  # fmt: skip
    for name, funnel in data.funnels.items():
        stages = {stage.strip(): count for stage, count in funnel_rows(funnel)}
        made.append((f"Curation funnel ({name})", plots.funnel(stages, name)))
    return [(caption, svg) for caption, svg in made if svg]


@recorded("report", guard=False)
def write_report(
    data: ReportData, deltas: Sequence[Delta], notes: Sequence[str], out_dir: Path,
    title: str = "dta-edge report", scope: str | None = None, claims: Sequence = (),
) -> dict[str, Path]:  # fmt: skip
    """Render and write the three files; return their paths.

    ``scope`` says what the numbers stand for; without it, a report whose systems run the
    embedded tiny model (``embedded:tiny``) says that they show the pipeline, not the method.
    ``claims`` (:func:`dta_edge.report.claims.paper_claims`) become the "Paper's claims at this
    scale" table.
    """
    from jinja2 import Environment, select_autoescape

    out_dir.mkdir(parents=True, exist_ok=True)
    context = {
        "title": title,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "systems": data.systems, "reported": data.reported, "deltas": deltas, "notes": notes,
        "funnels": data.funnels, "exports": data.exports, "samples": data.samples,
        "environment": data.environment, "sources": data.sources,
        "loss_analysis": data.loss_analysis, "token_shift": data.token_shift,
        "drift": data.drift, "pairwise": data.pairwise,
        "tiny": any("embedded:tiny" in s.model for s in data.systems), "scope": scope,
        "fmt": fmt, "funnel_rows": funnel_rows, "headlines": headline_lines(deltas), "zip": zip,
        "other_protocols": other_protocols, "roofline_cell": roofline_cell,
        "across": data.across, "across_rows": across_rows,
        "seeds": seed_rows(data.systems, data.scores),
        "claims": list(claims),
    }  # fmt: skip
    environment = Environment(autoescape=select_autoescape(default=True))
    template = files("dta_edge.report").joinpath("templates/report.html.jinja").read_text()
    html = environment.from_string(template).render(plots=build_plots(data), **context)
    paths = {"html": out_dir / REPORT_HTML, "md": out_dir / REPORT_MD,
             "csv": out_dir / RESULTS_CSV}  # fmt: skip
    atomic_write_text(paths["html"], html)
    atomic_write_text(paths["md"], _markdown(context))
    _write_csv(paths["csv"], data)
    return paths


def _markdown(c: dict) -> str:
    lines = [f"# {md(c['title'])}", "", f"Generated {c['generated']}.", ""]
    if c["scope"]:
        lines += [f"> {md(c['scope'])}", ""]
    elif c["tiny"]:
        lines += ["> Tiny-model numbers show the pipeline runs, not the method's effect.", ""]
    lines += ["## Headline", ""]
    lines += [f"- **{md(system)}**: {md(text)}" for system, text in c["headlines"]] or [
        "- no baseline chosen"
    ]
    lines += [f"- note: {md(n)}" for n in c["notes"]] + [""]
    lines += _claims_markdown(c["claims"])
    if c["systems"]:
        lines += ["## Systems (measured)", "",
                  "| system | run | device | pass@1 % [95% CI] | protocol "
                  "| pass@1 % other protocol | cons@k % | p50 lat s | p90 lat s "
                  "| TTFT s | tok/s | tok/problem | J/token | J/correct | decode vs ceilings "
                  "| quant | meter |",
                  "|---" * 17 + "|"]  # fmt: skip
        for s in c["systems"]:
            low, high = s.pass_at_1_ci95
            cons = "–" if s.cons_at_k is None else f"{s.cons_at_k * 100:.1f} (k={s.k})"
            meter = md(s.meter) + (" (estimated)" if s.energy_estimated else "")
            roof = roofline_cell(s)
            lines.append(
                f"| {md(s.system)} | {md(s.run or '–')} | {md(s.device)} | "
                f"{s.pass_at_1 * 100:.1f} [{low * 100:.1f}, {high * 100:.1f}] | "
                f"{md(s.protocol)} | {md(other_protocols(s))} | {cons} | "
                f"{fmt(s.latency_median_s)} | {fmt(s.latency_p90_s)} | "
                f"{fmt(s.ttft_median_s)} | {fmt(s.decode_tokens_per_s_median, '.1f')} | "
                f"{fmt(s.output_tokens_per_problem, '.1f')} | {fmt(s.joules_per_output_token)} | "
                f"{fmt(s.joules_per_correct)} | {roof} | {md(s.quantization or '–')} | {meter} |"
            )
        lines.append("")
    lines += _seeds_markdown(c["seeds"])
    lines += _across_markdown(c["across"])
    if c["reported"]:
        lines += ["## Reported (quoted, not measured)", "",
                  "| system | pass@1 % | cons@k % | protocol | source |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for r in c["reported"]:
            cons = "–" if r.cons_at_k is None else f"{r.cons_at_k:.2f} (k={r.k})"
            lines.append(f"| {md(r.name)} | {fmt(r.pass_at_1, '.2f')} | {cons} | "
                         f"{md(r.protocol or 'not stated')} | {md(r.source)} |")  # fmt: skip
        lines.append("")
    for name, funnel in c["funnels"].items():
        lines += [f"## Curation funnel ({md(name)})", ""]
        lines += [f"- {stage.strip()}: {count}" for stage, count in funnel_rows(funnel)] + [""]
    if c["exports"]:
        lines += ["## Exports", ""]
        for e in c["exports"]:
            parity = ", ".join(f"{k} {v:.5g}" for k, v in e.parity.items()) or "not measured"
            lines.append(f"- {md(e.name)}: {md(e.format)} {md(e.quantization)}, "
                         f"{e.bytes / 2**20:.2f} MiB; {parity}")  # fmt: skip
        lines.append("")
    lines += _analysis_markdown(c)
    env = c["environment"]
    lines += ["## Environment", "", f"- git revision: {md(env.get('git_revision') or '–')}",
              f"- python: {md(env.get('python') or '–')}",
              f"- hardware: {md(env.get('hardware') or '–')}",
              "", "Plots are in report.html."]  # fmt: skip
    return "\n".join(lines) + "\n"


def seed_rows(systems, scores: dict | None = None) -> list[dict[str, str]]:
    """One row per arm with two seeds or more: each seed's pass@1, pooled mean, spread.

    The pooled mean carries its seeds-then-problems interval where per-problem scores are known.
    """
    from dta_edge.report.deltas import arms
    from dta_edge.tasks.paired import seeded_mean

    rows = []
    for (run, arm), members in arms(systems).items():
        if len(members) < 2:
            continue
        shares = [m.pass_at_1 * 100 for m in members]
        pooled = f"{sum(shares) / len(shares):.1f}"
        if scores and all(m.system in scores for m in members):
            found = seeded_mean([scores[m.system] for m in members])
            if found is not None:
                pooled = f"{found[0]:.1f} [{found[1]:.1f}, {found[2]:.1f}]"
        rows.append({
            "arm": arm, "run": run or "–", "seeds": str(len(members)),
            "per_seed": ", ".join(f"{share:.1f} (seed {m.seed if m.seed is not None else '?'})"
                                  for share, m in zip(shares, members, strict=True)),
            "pooled": pooled,
            "spread": f"{max(shares) - min(shares):.1f}",
        })  # fmt: skip
    return rows


def across_rows(rows) -> list[dict[str, str]]:
    """One system on several runs: each run's numbers and its change from the first run.

    Energy is compared only within one kind (measured with measured; an estimate with one of
    the same meter's); otherwise the cell says why it is not.
    """
    first = rows[0]
    found = []
    for row in rows:
        latency = "–"
        if row is not first and row.latency_median_s and first.latency_median_s:
            latency = f"{(row.latency_median_s / first.latency_median_s - 1) * 100:+.0f}%"
        kind = None if row.energy_estimated is None else (
            "estimated" if row.energy_estimated else "measured")  # fmt: skip
        energy = "–"
        if row is not first and row.joules_per_output_token and first.joules_per_output_token:
            same = row.energy_estimated == first.energy_estimated and (
                not row.energy_estimated or row.meter == first.meter)  # fmt: skip
            change = (row.joules_per_output_token / first.joules_per_output_token - 1) * 100
            energy = f"{change:+.0f}% ({kind})" if same else "not compared (another kind or meter)"
        found.append({
            "run": row.run or "–", "device": f"{row.device} / {row.profile}",
            "accuracy": f"{row.pass_at_1 * 100:.1f}", "latency": fmt(row.latency_median_s),
            "latency_delta": latency,
            "energy": f"{fmt(row.joules_per_output_token)} ({kind or 'no meter'})",
            "energy_delta": energy,
        })  # fmt: skip
    return found


def _claims_markdown(claims) -> list[str]:
    if not claims:
        return []
    lines = [
        "## Paper's claims at this scale",
        "",
        "| claim | paper (reported) | ours | verdict | how |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {md(r.claim)} | {md(r.paper)} | {md(r.ours)} | **{r.verdict}** | "
              f"{md(r.how)} |" for r in claims]  # fmt: skip
    return [*lines, ""]


def _seeds_markdown(seeds: list[dict[str, str]]) -> list[str]:
    if not seeds:
        return []
    lines = ["## Seeds (one arm trained several times)", "",
             "| arm | run | seeds | pass@1 % per seed "
             "| pooled pass@1 % [95% CI: seeds, problems] | spread |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {md(r['arm'])} | {md(r['run'])} | {r['seeds']} | {r['per_seed']} | "
              f"{r['pooled']} | {r['spread']} |" for r in seeds]  # fmt: skip
    return [*lines, ""]


def _across_markdown(across: dict) -> list[str]:
    if not across:
        return []
    lines = ["## Same system across runs (device to device)", "",
             "| system | run | device / profile | pass@1 % | p50 lat s | latency vs first "
             "| J/token | J/token vs first |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, rows in across.items():
        for row in across_rows(rows):
            lines.append(f"| {md(name)} | {md(row['run'])} | {md(row['device'])} | "
                         f"{row['accuracy']} | {row['latency']} | {row['latency_delta']} | "
                         f"{md(row['energy'])} | {md(row['energy_delta'])} |")  # fmt: skip
    return [*lines, ""]


def _analysis_markdown(c: dict) -> list[str]:
    """Token shift class shares, drift distances and pairwise tallies as short lists."""
    lines: list[str] = []
    shift = c["token_shift"]
    for name, model in shift.get("models", {}).items():
        lines += [f"## Token shift: {md(name)} vs {md(shift['base'])}", ""]
        for row in model["classes"]:
            share = row["share_of_positive_gain"]
            percent = fmt(None if share is None else share * 100, ".1f")
            lines.append(f"- {md(row['class'])}: {row['tokens']} tokens, gain {row['gain']:+.3f}, "
                         f"{percent}% of positive gain")  # fmt: skip
        top = ", ".join(f"{md(w['word'])} {w['gain']:+.2f}" for w in model["top_gainers"][:8])
        lines += [f"- top gainers: {top}", ""]
    if c["drift"]:
        lines += [f"## Latent drift from {md(c['drift']['base'])}", ""]
        lines += [f"- {md(r['benchmark'])}, layer {r['layer']}, {md(r['model'])}: centroid L2 "
                  f"{r['centroid_l2']:.4g}, cosine distance {r['centroid_cosine_distance']:.3g}"
                  for r in c["drift"]["drift"]] + [""]  # fmt: skip
    for p in c["pairwise"]:
        lines += [f"## Pairwise: {md(p['a'])} vs {md(p['b'])} (judge {md(p['judge'])}, "
                  "both orders)", ""]  # fmt: skip
        for label, key in ((f"{md(p['a'])} wins", "a_wins"), ("ties", "ties"),
                           (f"{md(p['b'])} wins", "b_wins")):  # fmt: skip
            low, high = p[key]["ci95"]
            lines.append(f"- {label}: {p[key]['count']}/{p['problems_judged']} "
                         f"[{low:.3f}, {high:.3f}]")  # fmt: skip
        lines.append("")
    return lines


def _write_csv(path: Path, data: ReportData) -> None:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for s in data.systems:
        row = {k: getattr(s, k, None) for k in CSV_FIELDS if hasattr(s, k)}
        row.update(label=s.label, pass_at_1_ci95_low=s.pass_at_1_ci95[0],
                   pass_at_1_ci95_high=s.pass_at_1_ci95[1])  # fmt: skip
        row.update({f"pass_at_1_{name.replace('-', '_')}": value
                    for name, value in s.pass_at_1_by_protocol.items()})  # fmt: skip
        writer.writerow({key: csv_cell(value) for key, value in row.items()})
    for r in data.reported:
        writer.writerow({
            "label": "reported", "system": csv_cell(r.name), "thinking": r.thinking, "k": r.k,
            "pass_at_1": None if r.pass_at_1 is None else r.pass_at_1 / 100,
            "cons_at_k": None if r.cons_at_k is None else r.cons_at_k / 100,
            "protocol": csv_cell(r.protocol),
        })  # fmt: skip
    atomic_write_text(path, buffer.getvalue())

"""`dta report`: tables, headline deltas and plots from run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import Overwrite, console


def report_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders (searched recursively).")],
    baseline: Annotated[
        list[str] | None,
        typer.Option("--baseline", "-b", help="System name to compare against (repeatable)."),
    ] = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/report"
    ),
    title: Annotated[str, typer.Option(help="Report title.")] = "dta-edge report",
    claims: Annotated[
        str | None,
        typer.Option(
            "--claims",
            help="Hold the paper's claims against these rows: dta=SYSTEM,distilled=SYSTEM"
            "[,big-thinking=SYSTEM][,big=SYSTEM][,dta-runs=PREFIX][,distilled-runs=PREFIX] "
            "(training folder prefixes and analysis model names, default dta and distilled).",
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Write report.md, report.html (self-contained, opens offline) and results.csv.

    Reads bench summaries and results, reported rows, curation funnels, training loss curves
    and export manifests found under RUN_DIRS. Reported (quoted) rows never enter a delta.

    Examples:
      dta report runs/bench --baseline base-gguf --out runs/report
      dta report runs/demo --claims dta=dta-gguf,distilled=distilled-gguf,big=big-gguf
    """
    from rich.markup import escape

    from dta_edge.report.claims import paper_claims, parse_roles
    from dta_edge.report.collect import collect
    from dta_edge.report.deltas import headline_deltas
    from dta_edge.report.render import write_report

    data = collect(run_dirs)
    deltas, notes = headline_deltas(
        data.systems, data.reported, baseline or [], data.scores, data.votes
    )
    rows = paper_claims(data, parse_roles(claims)) if claims else []
    paths = write_report(data, deltas, notes, out_path, title, claims=rows, overwrite=overwrite)
    for row in rows:
        console.print(f"  claim: {escape(row.claim)}: [bold]{row.verdict}[/bold] "
                      f"(ours {escape(row.ours)})")  # fmt: skip
    for delta in deltas:
        console.print(f"  {escape(delta.system)}: {escape(delta.text)}")
    for note in notes:
        console.print(f"  [yellow]{escape(note)}[/yellow]")
    console.print(
        f"results table in [bold]{paths['csv']}[/bold], markdown in [bold]{paths['md']}[/bold]"
    )
    console.print(f"report: [bold]{paths['html']}[/bold]")

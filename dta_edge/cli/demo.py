"""`dta demo`: the whole chain on the embedded tiny model, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import Overwrite, console


def demo_command(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Demo run folder.")] = Path(
        "runs/demo"
    ),
    fast: Annotated[
        bool, typer.Option("--fast", help="Smaller sizes (what the tests run).")
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """The paper's comparison on this CPU, offline: build, curate, train, export, bench, report.

    Builds two embedded models once (a demo-tier student and a big baseline, cached), curates
    DTA and distilled-only sets with them, fine-tunes the student on each, and benches every
    variant on held-out problems. Rerunning the same command skips the stages already finished
    (each stage's run.json says so).
    """
    import time

    from rich.markup import escape

    from dta_edge.cli._common import progress_bar
    from dta_edge.demo import FAST, DemoSettings, run_demo

    started = time.perf_counter()
    settings = FAST if fast else DemoSettings()
    report = run_demo(
        out_path,
        settings,
        lambda text: console.print(escape(text)),  # stage lines are plain text, brackets too
        bar=lambda label, total: progress_bar(console, label, total),
        overwrite=overwrite,
    )
    seconds = time.perf_counter() - started
    console.print(f"wall {seconds:.1f} s")
    console.print(f"report: [bold]{report}[/bold]")

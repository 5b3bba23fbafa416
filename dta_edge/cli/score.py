"""`dta score`: extract answers, score completion files (pass@1, pass@k, cons@k)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import ConfigOpt, Overwrite, console, overrides, progress_bar

score_app = typer.Typer(
    help="Extract final answers and compute pass@1, pass@k and cons@k.", no_args_is_help=True
)


@score_app.command("run")
def score_run(
    problems: Annotated[Path, typer.Option(help="problems.jsonl with reference answers.")],
    completions: Annotated[
        Path, typer.Option(help="completions.jsonl (request_id = problem id, sample_index, text).")
    ],
    out_path: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for scores.jsonl, summary.json and run.json."),
    ] = Path("runs/score"),
    config: ConfigOpt = None,
    rel_tol: Annotated[
        float | None, typer.Option(help="Relative tolerance where a problem sets none.")
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            help="Scoring protocol: dta (ours, the default) or telemath-reference (the public "
            "TeleMath scorer, comparable with published tables). Both are recorded."
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Score completions: pass@1 with its 95% interval, pass@k, cons@k. Resumes if interrupted.

    Examples:
      dta score run --problems problems.jsonl --completions completions.jsonl --out runs/score
      dta score run --problems p.jsonl --completions c.jsonl --protocol telemath-reference
    """
    from dta_edge.tasks.score_run import score_files
    from dta_edge.tasks.scoring import ScoreConfig

    recipe = overrides(ScoreConfig, config, rel_tol=rel_tol, protocol=protocol)
    with progress_bar(console, "scoring", 0) as advance:
        summary = score_files(
            problems, completions, out_path, recipe, overwrite=overwrite,
            on_record=lambda i, t: advance(i, total=t),
        )  # fmt: skip
    low, high = summary.pass_at_1_ci95
    console.print(
        f"{summary.problems} problems x {summary.samples_per_problem} samples: "
        f"pass@1 {summary.pass_at_1:.2%} [{low:.2%}, {high:.2%}] ({summary.protocol})"
    )
    others = {n: v for n, v in summary.pass_at_1_by_protocol.items() if n != summary.protocol}
    for name, value in others.items():
        console.print(f"  pass@1 {value:.2%} under {name}")
    for k, value in summary.pass_at_k.items():
        console.print(f"  pass@{k} {value:.2%}   cons@{k} {summary.cons_at_k[k]:.2%}")


@score_app.command("extract")
def score_extract(
    text: Annotated[str, typer.Argument(help="A model output.")],
    reference: Annotated[str | None, typer.Option(help="Reference answer to compare with.")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit of the reference answer.")] = None,
    rel_tol: Annotated[float, typer.Option(help="Relative tolerance.")] = 0.01,
) -> None:
    r"""Show which answer a text yields and, with --reference, whether it is right.

    Examples:
      dta score extract 'so the rate is \boxed{30 kbps}' --reference 30000 --unit bps
    """
    from dta_edge.records import Problem
    from dta_edge.tasks.answers import extract_answer, parse_quantity
    from dta_edge.tasks.scoring import score_text

    extracted = extract_answer(text)
    quantity = parse_quantity(extracted)
    result: dict[str, object] = {
        "extracted": extracted,
        "value": quantity.value if quantity else None,
        "unit": quantity.unit if quantity else None,
    }
    if reference is not None:
        ref = parse_quantity(reference)
        problem = Problem(
            id="cli",
            source="cli",
            category="cli",
            question="",
            answer=ref.value if ref else None,
            answer_text=reference,
            unit=unit,
        )
        _, _, correct, reason = score_text(text, problem, rel_tol)
        result.update(correct=correct, reason=reason)
    console.print_json(json.dumps(result))

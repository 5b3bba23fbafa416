"""`dta curate`: Phase I, Phase II (rewrite + judge) and selection, together or one at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import Overwrite, TargetsDir, console
from dta_edge.layout import DISTILLED, FUNNEL, SFT

curate_app = typer.Typer(
    help="Curate a DTA fine-tuning set: teacher ensemble (Phase I), student-aligned rewriting "
    "and reflection judge (Phase II), selection. Every step resumes where it stopped.",
)


def recipe_names(kind: str) -> list[str]:
    """Shipped recipes of one kind, for help texts (generated, never typed)."""
    from dta_edge.cli.configs import shipped_configs

    return [name for _, name, path, _ in shipped_configs("recipe")
            if f"kind: {kind}" in path.read_text(encoding="utf-8")]  # fmt: skip


Recipe = Annotated[
    Path,
    typer.Option(
        help="A curation recipe YAML, or a shipped one's name: "
        f"{', '.join(recipe_names('curation-recipe'))}."
    ),
]
Out = Annotated[Path, typer.Option("--out", "-o", help="Run folder (resumable).")]


def _load(recipe: Path):
    from dta_edge.config import load_config
    from dta_edge.curation.recipe import CurationRecipe
    from dta_edge.shipped import resolve_file
    from dta_edge.tasks.sources import load_problem_source

    recipe = resolve_file(recipe, "curation")
    from dta_edge.config_checks import check_references

    spec = load_config(recipe, CurationRecipe)
    check_references(spec, recipe)
    return spec, load_problem_source(spec.problems, spec.n, recipe)


def _steps(
    recipe: Path,
    out_path: Path,
    targets_dir: Path | None,
    steps: tuple[str, ...],
    overwrite: bool = False,
) -> None:
    from dta_edge.cli._common import progress_bar
    from dta_edge.curation.pipeline import run_curation
    from dta_edge.export.embedded import exporting_resolver

    spec, problems = _load(recipe)
    funnel = run_curation(
        spec, problems, out_path, steps, resolve=exporting_resolver(targets_dir),
        bar=lambda label, total: progress_bar(console, label, total), overwrite=overwrite,
    )  # fmt: skip
    if funnel is not None:
        phase2 = funnel.phase2
        console.print(
            f"candidates {funnel.phase1.candidates} -> agreed {funnel.agreement.agreed}"
            f" -> rewrites kept {phase2.kept} -> judge accepted {funnel.judge.accepted}"
            f" -> sft {funnel.outputs[SFT]} (distilled control {funnel.outputs[DISTILLED]})"
        )
        before, after = phase2.student_nll_before_mean, phase2.student_nll_after_mean
        if before is not None:
            console.print(f"student NLL/token on kept solutions: {before:.3f} before -> "
                      f"{after:.3f} after rewriting")  # fmt: skip
        console.print(f"funnel in [bold]{out_path / FUNNEL}[/bold]")


@curate_app.callback(invoke_without_command=True)
def curate(
    ctx: typer.Context,
    recipe: Recipe = None,  # type: ignore[assignment]
    out_path: Out = Path("runs/curate"),
    targets_dir: TargetsDir = None,
    overwrite: Overwrite = False,
) -> None:
    """Run every step of --recipe into --out: phase1, phase2 (rewrite, judge), select.

    Examples:
      dta curate --recipe demo --out runs/curate
      dta curate --recipe curation/telemath-qwen3.yaml --out runs/telemath
    """
    if ctx.invoked_subcommand is not None:
        return
    if recipe is None:
        raise typer.BadParameter("give --recipe (e.g. curation/demo.yaml)")
    _steps(recipe, out_path, targets_dir, ("phase1", "rewrite", "judge", "select"), overwrite)


@curate_app.command("phase1")
def phase1(recipe: Recipe, out_path: Out = Path("runs/curate"),
           targets_dir: TargetsDir = None, overwrite: Overwrite = False) -> None:  # fmt: skip
    """Teachers write candidates.jsonl.

    Examples:
      dta curate phase1 --recipe demo --out runs/curate
    """
    _steps(recipe, out_path, targets_dir, ("phase1",), overwrite)


@curate_app.command("phase2")
def phase2(recipe: Recipe, out_path: Out = Path("runs/curate"),
           targets_dir: TargetsDir = None, overwrite: Overwrite = False) -> None:  # fmt: skip
    """Rewrite agreed candidates in the student's voice (aligned.jsonl), then judge them.

    Examples:
      dta curate phase2 --recipe demo --out runs/curate
    """
    _steps(recipe, out_path, targets_dir, ("rewrite", "judge"), overwrite)


@curate_app.command("select")
def select(recipe: Recipe, out_path: Out = Path("runs/curate"),
           targets_dir: TargetsDir = None, overwrite: Overwrite = False) -> None:  # fmt: skip
    """Write sft.jsonl, distilled.jsonl and funnel.json.

    Examples:
      dta curate select --recipe demo --out runs/curate
    """
    _steps(recipe, out_path, targets_dir, ("select",), overwrite)

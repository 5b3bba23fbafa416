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
Decontaminate = Annotated[
    list[Path] | None,
    typer.Option(
        "--decontaminate",
        help="Bench problems no training problem or solution may carry, beside the recipe's "
        "decontaminate.against: a problems file (JSONL/CSV/Parquet, TeleMath fields) or a "
        "bench suite YAML (its problems). Repeatable.",
    ),
]


def _load(recipe: Path, decontaminate: list[Path] | None = None):
    from dta_edge.config import load_config
    from dta_edge.config_checks import check_references
    from dta_edge.curation.recipe import CurationRecipe
    from dta_edge.shipped import resolve_file
    from dta_edge.tasks.sources import load_problem_source

    recipe = resolve_file(recipe, "curation")
    spec = load_config(recipe, CurationRecipe)
    check_references(spec, recipe)
    spec = _with_bench_sources(spec, recipe, decontaminate or [])
    return spec, load_problem_source(spec.problems, spec.n, recipe)


def _absolute(source, config_path: Path):
    """A problem source whose files no longer depend on the config's folder."""
    from dta_edge.tasks.loaders import PRESETS
    from dta_edge.tasks.sources import resolve_problem_file

    if source.file is None:
        return source
    update = {"file": str(resolve_problem_file(config_path, source.file).resolve())}
    if source.field_map not in PRESETS:
        update["field_map"] = str(resolve_problem_file(config_path, source.field_map).resolve())
    return source.model_copy(update=update)


def _with_bench_sources(spec, recipe: Path, files: list[Path]):
    """The recipe with its decontamination sources absolute and ``files`` added to them.

    Recorded in run.json with the recipe, so a run folder resumes only with the same check.
    """
    from dta_edge.bench.suite import BenchSuite
    from dta_edge.config import load_config
    from dta_edge.shipped import resolve_file
    from dta_edge.tasks.sources import ProblemSource

    sources = [_absolute(source, recipe) for source in spec.decontaminate.against]
    for file in files:
        if file.is_file() and file.suffix not in (".yaml", ".yml"):
            sources.append(ProblemSource(file=str(file.resolve())))
        else:  # a suite: its file, or a shipped suite's name
            suite = resolve_file(file, "bench")
            sources.append(_absolute(load_config(suite, BenchSuite).problems, suite))
    check = spec.decontaminate.model_copy(update={"against": tuple(sources)})
    return spec.model_copy(update={"decontaminate": check})


def _steps(
    recipe: Path,
    out_path: Path,
    targets_dir: Path | None,
    steps: tuple[str, ...],
    overwrite: bool = False,
    decontaminate: list[Path] | None = None,
) -> None:
    from dta_edge.cli._common import progress_bar
    from dta_edge.curation.pipeline import run_curation
    from dta_edge.export.embedded import exporting_resolver

    spec, problems = _load(recipe, decontaminate)
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
        check = funnel.decontamination
        if check is not None:
            verb = "dropped" if check.dropped else "flagged (kept: drop is off)"
            console.print(
                f"decontamination against {check.bench_questions} bench questions: {verb} "
                f"{check.problems_caught} of {check.problems_checked} problems, "
                f"{check.solutions_caught} of {check.solutions_checked} solutions"
            )
        console.print(f"funnel in [bold]{out_path / FUNNEL}[/bold]")


@curate_app.callback(invoke_without_command=True)
def curate(
    ctx: typer.Context,
    recipe: Recipe = None,  # type: ignore[assignment]
    out_path: Out = Path("runs/curate"),
    targets_dir: TargetsDir = None,
    overwrite: Overwrite = False,
    decontaminate: Decontaminate = None,
) -> None:
    """Run every step of --recipe into --out: phase1, phase2 (rewrite, judge), select.

    Examples:
      dta curate --recipe demo --out runs/curate
      dta curate --recipe curation/telemath-qwen3.yaml --out runs/telemath
      dta curate --recipe demo --decontaminate bench/demo.yaml --out runs/curate
    """
    if ctx.invoked_subcommand is not None:
        return
    if recipe is None:
        raise typer.BadParameter("give --recipe (e.g. curation/demo.yaml)")
    _steps(recipe, out_path, targets_dir, ("phase1", "rewrite", "judge", "select"), overwrite,
           decontaminate)  # fmt: skip


@curate_app.command("phase1")
def phase1(recipe: Recipe, out_path: Out = Path("runs/curate"), targets_dir: TargetsDir = None,
           overwrite: Overwrite = False, decontaminate: Decontaminate = None) -> None:  # fmt: skip
    """Teachers write candidates.jsonl.

    Examples:
      dta curate phase1 --recipe demo --out runs/curate
    """
    _steps(recipe, out_path, targets_dir, ("phase1",), overwrite, decontaminate)


@curate_app.command("phase2")
def phase2(recipe: Recipe, out_path: Out = Path("runs/curate"), targets_dir: TargetsDir = None,
           overwrite: Overwrite = False, decontaminate: Decontaminate = None) -> None:  # fmt: skip
    """Rewrite agreed candidates in the student's voice (aligned.jsonl), then judge them.

    Examples:
      dta curate phase2 --recipe demo --out runs/curate
    """
    _steps(recipe, out_path, targets_dir, ("rewrite", "judge"), overwrite, decontaminate)


@curate_app.command("select")
def select(recipe: Recipe, out_path: Out = Path("runs/curate"), targets_dir: TargetsDir = None,
           overwrite: Overwrite = False, decontaminate: Decontaminate = None) -> None:  # fmt: skip
    """Write sft.jsonl, distilled.jsonl and funnel.json.

    Examples:
      dta curate select --recipe demo --out runs/curate
    """
    _steps(recipe, out_path, targets_dir, ("select",), overwrite, decontaminate)

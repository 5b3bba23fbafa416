"""`dta curate` as one library call: the steps in order, in one run folder that owns its run.json.

The CLI, the demo and a notebook all call :func:`run_curation`, so the same recipe gives the same
folder whoever runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from dta_edge.curation.decontaminate import BenchIndex, Ledger, bench_questions, clean_problems
from dta_edge.curation.recipe import CurationRecipe
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.records import Funnel, Problem
from dta_edge.runs import run_record

STEPS = ("phase1", "rewrite", "judge", "select")
# (label, total) -> a context giving advance(done, extra_text, total)
Bar = Callable[[str, int], AbstractContextManager[Callable[..., None]]]


def _no_bar(_label: str, _total: int) -> AbstractContextManager[Callable[..., None]]:
    return nullcontext(lambda *_args, **_kwargs: None)


def _ledger(recipe: CurationRecipe) -> Ledger | None:
    """The decontamination check of the recipe's bench questions; None where it names none."""
    if not recipe.decontaminate.against:
        return None
    bench = bench_questions(recipe.decontaminate, Path.cwd() / "recipe.yaml")
    return Ledger(BenchIndex(bench, recipe.decontaminate))


def run_curation(
    recipe: CurationRecipe,
    problems: Sequence[Problem],
    out_dir: Path,
    steps: Sequence[str] = STEPS,
    *,
    resolve: ModelResolver = resolve_model,
    bar: Bar | None = None,
    overwrite: bool = False,
) -> Funnel | None:
    """Run ``steps`` of ``recipe`` into ``out_dir`` (resumable); return the funnel if selected.

    Problems that carry a bench question the recipe names are dropped before any step, their
    solutions at selection (curation/decontaminate.py); relative files in
    ``recipe.decontaminate`` are read from the working directory (the CLI resolves them first).

    Raises:
        DataError: ``out_dir`` holds a run of another recipe (without ``overwrite``).
        ValueError: a step name not in :data:`STEPS`.
    """
    from dta_edge.curation.judge import run_judge
    from dta_edge.curation.phase1 import run_phase1
    from dta_edge.curation.phase2 import run_phase2
    from dta_edge.curation.select import run_select

    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise ValueError(f"unknown curation steps {unknown}; steps: {', '.join(STEPS)}")
    runners = {"phase1": run_phase1, "rewrite": run_phase2, "judge": run_judge}
    bar = bar or _no_bar
    funnel = None
    config = recipe.model_dump(mode="json")
    with run_record(out_dir, "curate." + "+".join(steps), config, overwrite=overwrite):
        ledger = _ledger(recipe)
        if ledger is not None:  # every call checks again: steps run one at a time agree
            problems = clean_problems(problems, ledger)
        for step in steps:
            if step == "select":
                funnel = run_select(recipe, list(problems), out_dir, ledger=ledger)
                continue
            with bar(step, len(problems)) as advance:
                runners[step](
                    recipe, list(problems), out_dir, resolve=resolve,
                    on_progress=lambda name, done, total: advance(done, name, total),
                )  # fmt: skip
    return funnel

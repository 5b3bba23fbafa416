"""`dta demo`: the paper's comparison on a laptop CPU, offline, resumable stage by stage.

Two embedded models are built once and cached (curation/demo-student.yaml, demo-big.yaml): a
student pre-trained on the generator's demo tier that answers without its work unless thinking
is on, and a big baseline with more parameters and steps. Phase I asks the reference teacher
(four styles) and the big baseline (its GGUF in llama.cpp, thinking on); Phase II restyles
into the student's voice, judges and selects; the distilled-only control is matched to the DTA
set. The student is fine-tuned on each set with
the same recipe and steps; base, distilled-only and DTA students and the big baseline are
exported to GGUF Q8_0 (DTA to ONNX int8 too) and benched on held-out demo-tier problems: the
students without thinking, the big baseline with thinking, without, and with cons@k. A finished
stage leaves a marker; a rerun skips it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from dta_edge import layout as L
from dta_edge.config import FrozenModel, load_config
from dta_edge.shipped import resolve_file, shipped_folder

Say = Callable[[str], None]
Bar = Callable[[str, int], object]  # (description, total) -> context yielding advance()
VARIANTS = ("base", "distilled", "dta")  # the student untuned, distilled-only, DTA
FINE_TUNED = ("dta", "distilled")
BIG = "big"
STAGES = ("model", "curate", "train", "export", "bench", "analyze", "report")
GGUF, ONNX = "cpu-gguf-q8_0", "cpu-onnx-int8"
SCOPE = (
    "Measured on embedded models of 1-3 M parameters built on this machine, on the generator's "
    "demo tier (small-integer problems over seven TeleMath categories), held-out problems only: "
    "the paper's comparison at laptop scale, not TeleMath numbers. Energy is estimated where no "
    "meter reads (see the meter column)."
)


class DemoSettings(FrozenModel):
    """Sizes of one demo run (the fast variant is what the test suite runs)."""

    train_problems: int = 1200
    bench_problems: int = 200
    vote_k: int = 4
    max_tokens: int = 96
    teacher_k: int = 2
    train_epochs: float | None = None  # None: the train recipe's
    analysis_problems: int = 40
    seeds: int = Field(
        default=3, ge=1, description="Training runs per fine-tuned arm (seeds from the recipe's)."
    )
    student: str = "curation/demo-student.yaml"
    big: str = "curation/demo-big.yaml"


FAST = DemoSettings(
    train_problems=240, bench_problems=60, vote_k=2, max_tokens=64, analysis_problems=12,
    train_epochs=8, student="curation/demo-student-fast.yaml", big="curation/demo-big-fast.yaml",
    seeds=2,
)  # fmt: skip


def _nullbar(_description: str, _total: int):
    from contextlib import nullcontext

    return nullcontext(lambda *_args, **_kwargs: None)


def _config(name: str):
    from dta_edge.models.tiny_config import TinyModelConfig

    return load_config(resolve_file(name, "curation"), TinyModelConfig)


def _models(settings: DemoSettings, bar: Bar | None = None) -> dict[str, Path]:
    """The student's and the big baseline's folders, built (with a progress bar) if not cached."""
    from dta_edge.models.tiny import cached_tiny_model, tiny_model

    folders = {}
    for role, name in (("student", settings.student), (BIG, settings.big)):
        config = _config(name)
        if bar is None or cached_tiny_model(config) is not None:  # no bar stuck at 0 when cached
            folders[role] = tiny_model(config).path
            continue
        with bar(f"build {role}", config.steps) as advance:
            build = tiny_model(
                config, on_step=lambda done, total, loss: advance(done, f"loss {loss:.3f}", total)
            )
        folders[role] = build.path
    return folders


def _build_models(settings: DemoSettings, say: Say, bar: Bar) -> None:
    from dta_edge.models.tiny import cached_tiny_model

    missing = [n for n in (settings.student, settings.big) if cached_tiny_model(_config(n)) is None]
    if missing:
        say(f"one-time build of {', '.join(missing)} (cached afterwards; the bar's estimate is "
            "the time left)")  # fmt: skip
    for role, path in _models(settings, bar).items():
        info = json.loads((path / "dta_tiny.json").read_text())
        say(f"{role}: {info['parameters'] / 1e6:.2f} M parameters, {info['config']['steps']} "
            f"steps, built in {info['build_seconds']:.0f} s; {path}")  # fmt: skip


def _exported(folder: Path, out: Path, target_name: str) -> Path:
    """``folder`` exported for a shipped target under ``out`` (once; later calls find it)."""
    from dta_edge.export.runner import export_model, exported_model
    from dta_edge.export.targets import ExportTarget

    if not (out / L.MANIFEST).exists():
        target = load_config(shipped_folder("export") / f"{target_name}.yaml", ExportTarget)
        export_model(target.model_copy(update={"parity_texts": 3}), folder, out, overwrite=True)
    return exported_model(out)


def _training_problems(settings: DemoSettings) -> list:
    from dta_edge.curation.recipe import CurationRecipe
    from dta_edge.tasks.generator import demo_training_problems

    recipe = load_config(resolve_file("curation/demo-tier.yaml", "curation"), CurationRecipe)
    generate = recipe.problems.generate
    if generate is None:
        raise RuntimeError("curation/demo-tier.yaml must generate its problems")
    return list(demo_training_problems(generate.model_copy(update={"n": settings.train_problems})))


def _curate(out: Path, settings: DemoSettings, say: Say, bar: Bar) -> None:
    from dta_edge.curation.pipeline import run_curation
    from dta_edge.curation.recipe import CurationRecipe, ModelSpec, TeacherSpec

    models = _models(settings)
    student = _exported(models["student"], out.parent / L.DEMO_EXPORT / f"base-{GGUF}", GGUF)
    big = _exported(models[BIG], out.parent / L.DEMO_EXPORT / f"{BIG}-{GGUF}", GGUF)
    recipe = load_config(resolve_file("curation/demo-tier.yaml", "curation"), CurationRecipe)
    say("big-baseline teacher: its GGUF in llama.cpp, thinking on")
    teacher = TeacherSpec(
        name=BIG, k=settings.teacher_k, seed=3, thinking=True,
        model=ModelSpec(backend="llama-cpp", model=str(big), options={"n_threads": 1},
                        sampling={"temperature": 0.7, "top_p": 0.95, "max_tokens": 192}),
    )  # fmt: skip
    recipe = recipe.model_copy(update={
        "teachers": (*recipe.teachers, teacher),
        "student": recipe.student.model_copy(update={"model": str(student)}),
    })  # fmt: skip
    funnel = run_curation(recipe, _training_problems(settings), out, bar=bar)
    if funnel is None:  # every step ran, select included: a funnel always comes back
        raise RuntimeError("curation returned no funnel")
    phase2, outputs = funnel.phase2, funnel.outputs
    say(f"curation: {funnel.phase1.candidates} candidates -> {funnel.agreement.agreed} agreed -> "
        f"{phase2.kept} rewrites kept (student NLL/token {phase2.student_nll_before_mean:.3f} -> "
        f"{phase2.student_nll_after_mean:.3f}) -> DTA {outputs[L.SFT]}, distilled-only "
        f"{outputs[L.DISTILLED]}")  # fmt: skip
    check = funnel.decontamination
    if check is not None:
        say(f"decontamination against the {check.bench_questions} held-out questions: dropped "
            f"{check.problems_caught} of {check.problems_checked} training problems "
            f"({', '.join(f'{n} {m}' for m, n in check.by_method.items() if n)}) and "
            f"{check.solutions_caught} of {check.solutions_checked} solutions")  # fmt: skip


def _shipped_train_recipe():
    from dta_edge.train.recipe import TrainRecipe

    return load_config(resolve_file("curation/train-demo-tier.yaml", "curation"), TrainRecipe)


def _train_recipe(settings: DemoSettings):
    recipe = _shipped_train_recipe()
    return recipe.model_copy(update={
        "base_model": str(_models(settings)["student"]),
        "epochs": settings.train_epochs or recipe.epochs,
    })  # fmt: skip


def trained_runs(settings: DemoSettings) -> dict[str, tuple[str, int]]:
    """Every training run: folder name -> (arm, seed), seeds counting from the recipe's.

    The first seed's folder is the arm's name (the one the analyses read); the others are
    ``<arm>-seed<N>``. Training, export, bench and the stage check all name folders from here.
    """
    first_seed = _shipped_train_recipe().seed
    return {
        (arm if i == 0 else f"{arm}-seed{first_seed + i}"): (arm, first_seed + i)
        for i in range(settings.seeds)
        for arm in FINE_TUNED
    }


def _train_one(recipe, data: Path, folder: Path):
    """One training run in a worker process: one thread, so two runs share two cores."""
    import torch

    from dta_edge.train.sft import train

    torch.set_num_threads(1)
    return train(recipe, data, folder, quiet=True, full=True)


def _train(out: Path, curated: Path, settings: DemoSettings, say: Say) -> None:
    """Every arm once per seed; the runs go out two at a time where there are two cores.

    A 1 M-parameter student's step is mostly per-call overhead, so one thread per run and two
    runs side by side finish sooner than two threads per run one after the other.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    recipe = _train_recipe(settings)
    runs = trained_runs(settings)
    data = {"dta": L.SFT, "distilled": L.DISTILLED}
    workers = max(1, min(2, os.cpu_count() or 1, len(runs)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            name: pool.submit(_train_one, recipe.model_copy(update={"seed": seed}),
                              curated / data[arm], out / name)
            for name, (arm, seed) in runs.items()
        }  # fmt: skip
        for name, future in futures.items():
            summary = future.result()
            if summary is not None:  # None only on a non-writing rank, never in the demo
                say(f"train {name}: {summary.steps} steps (all parameters), eval loss "
                    f"{summary.eval_loss:.4f}")  # fmt: skip


def _sources(settings: DemoSettings, trained: Path) -> dict[str, Path]:
    """The transformers folder behind every exported variant."""
    models = _models(settings)
    return {
        "base": models["student"],
        **{name: trained / name / L.FULL_MODEL for name in trained_runs(settings)},
        BIG: models[BIG],
    }


def _export_targets(settings: DemoSettings) -> list[tuple[str, str]]:
    """(variant, target) pairs the demo exports: every model to GGUF, DTA to ONNX too."""
    seeds = [name for name in trained_runs(settings) if name not in FINE_TUNED]
    return [(variant, GGUF) for variant in (*VARIANTS, BIG, *seeds)] + [("dta", ONNX)]


def _export(out: Path, trained: Path, settings: DemoSettings, say: Say) -> None:
    from dta_edge.export.runner import read_manifest

    sources = _sources(settings, trained)
    for variant, target_name in _export_targets(settings):
        folder = out / f"{variant}-{target_name}"
        _exported(sources[variant], folder, target_name)
        manifest = read_manifest(folder)
        parity = manifest.parity.get("top1_agreement", float("nan"))
        say(f"export {variant} {target_name}: top-1 agreement {parity:.4f}")


def _model_path(exports: Path, variant: str, target: str) -> str:
    from dta_edge.export.runner import exported_model

    return str(exported_model(exports / f"{variant}-{target}"))


def bench_systems(exports: Path, settings: DemoSettings) -> list[dict]:
    """The bench's rows: students without thinking, the big baseline three ways, one ONNX row."""
    plain = {"max_tokens": settings.max_tokens}
    runs = trained_runs(settings)
    rows = [
        {"name": f"{variant}-gguf", "backend": "llama-cpp", "quantization": "q8_0",
         "model": _model_path(exports, variant, GGUF), "sampling": plain,
         **({"arm": runs[variant][0], "seed": runs[variant][1]} if variant in runs else {})}
        for variant in VARIANTS
    ]  # fmt: skip
    rows += [
        {"name": f"{arm}-gguf-seed{seed}", "backend": "llama-cpp", "quantization": "q8_0",
         "model": _model_path(exports, name, GGUF), "sampling": plain, "arm": arm, "seed": seed}
        for name, (arm, seed) in runs.items() if name not in FINE_TUNED
    ]  # fmt: skip
    big = _model_path(exports, BIG, GGUF)
    return rows + [
        {"name": "dta-onnx", "backend": "onnx", "model": _model_path(exports, "dta", ONNX),
         "quantization": "int8", "sampling": plain},
        {"name": f"{BIG}-gguf", "backend": "llama-cpp", "model": big, "quantization": "q8_0",
         "sampling": plain},
        {"name": f"{BIG}-gguf-thinking", "backend": "llama-cpp", "model": big,
         "quantization": "q8_0", "thinking": True,
         "sampling": {"max_tokens": settings.max_tokens * 2}},
        {"name": f"{BIG}-gguf-cons{settings.vote_k}", "backend": "llama-cpp", "model": big,
         "quantization": "q8_0", "k": settings.vote_k,
         "sampling": {"temperature": 0.7, "top_p": 0.95, **plain}},
    ]  # fmt: skip


def _bench(out: Path, exports: Path, settings: DemoSettings, say: Say, bar: Bar) -> None:
    from dta_edge.bench.runner import run_suite
    from dta_edge.bench.suite import BenchSuite
    from dta_edge.profiles import DeviceProfile
    from dta_edge.tasks.generator import DEMO_HELD_OUT

    systems = bench_systems(exports, settings)
    held_out = DEMO_HELD_OUT.model_copy(update={"n": settings.bench_problems})
    suite = BenchSuite.model_validate_json(json.dumps({
        "name": "demo", "problems": {"generate": held_out.model_dump(mode="json")},
        "warmup": 1, "systems": systems,
    }))  # fmt: skip
    profile = load_config(resolve_file("profiles/cpu.yaml", "profiles"), DeviceProfile)
    with bar("bench", len(systems)) as advance:
        summaries = run_suite(
            suite, resolve_file("bench/demo.yaml", "bench"), profile, out,
            on_notice=say,
            on_progress=lambda name, done, total: advance(done, name, total),
        )  # fmt: skip
    for s in summaries:
        low, high = s.pass_at_1_ci95
        say(f"bench {s.system}: pass@1 {s.pass_at_1 * 100:.1f}% [{low * 100:.1f}, "
            f"{high * 100:.1f}], {s.output_tokens_per_problem or 0:.0f} output tokens per "
            "problem")  # fmt: skip


def run_demo(
    out: Path,
    settings: DemoSettings,
    say: Say,
    bar: Bar | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Run (or resume) every stage; return the report's path. ``bar`` draws progress bars.

    Every stage writes its own run.json; a rerun skips each stage whose runs all finished, and a
    folder holding a demo of other settings is refused unless ``overwrite`` moves it aside.
    """
    bar = bar or _nullbar
    import datasets
    import transformers

    from dta_edge.runs import run_record

    datasets.disable_progress_bars()  # stage lines are the demo's progress; no nested bars
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    timings: dict[str, float] = {}
    steps = {
        "model": lambda: _build_models(settings, say, bar),
        "curate": lambda: _curate(out / L.DEMO_CURATE, settings, say, bar),
        "train": lambda: _train(out / L.DEMO_TRAIN, out / L.DEMO_CURATE, settings, say),
        "export": lambda: _export(out / L.DEMO_EXPORT, out / L.DEMO_TRAIN, settings, say),
        "bench": lambda: _bench(out / L.DEMO_BENCH, out / L.DEMO_EXPORT, settings, say, bar),
        "analyze": lambda: _analyze(out, settings, say, bar),
        "report": lambda: _report(out, settings, say),
    }
    from dta_edge._console import native_stderr_to

    with (
        run_record(out, "demo", settings.model_dump(mode="json"), overwrite=overwrite),
        native_stderr_to(out / L.DEMO_NATIVE_LOG),
    ):
        for stage in STAGES:
            done = _finished_seconds(out, stage, settings)
            if done is not None:
                timings[stage] = done
                say(f"stage {stage}: done before ({done:.1f} s), skipped")
                continue
            started = time.perf_counter()
            say(f"stage {stage} ...")
            steps[stage]()
            timings[stage] = time.perf_counter() - started
            say(f"stage {stage}: {timings[stage]:.1f} s")
        (out / L.DEMO_TIMINGS).write_text(json.dumps(timings, indent=2))
    say("stage timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f"; total {sum(timings.values()):.1f} s")  # fmt: skip
    return out / L.DEMO_REPORT / L.REPORT_HTML


def _stage_folders(out: Path, stage: str, settings: DemoSettings) -> list[Path]:
    """The folders whose run.json say a demo stage finished (each stage writes its own)."""
    analysis = out / L.DEMO_ANALYSIS
    return {
        "curate": [out / L.DEMO_CURATE],
        "train": [out / L.DEMO_TRAIN / name for name in trained_runs(settings)],
        "export": [out / L.DEMO_EXPORT / f"{variant}-{target}"
                   for variant, target in _export_targets(settings)],
        "bench": [out / L.DEMO_BENCH],
        "analyze": [analysis / name for name in (L.ANALYSIS_LOSS, L.ANALYSIS_TOKEN_SHIFT,
                                                 L.ANALYSIS_DRIFT, L.ANALYSIS_PAIRWISE)],
        "report": [out / L.DEMO_REPORT],
    }.get(stage, [])  # fmt: skip


def _finished_seconds(out: Path, stage: str, settings: DemoSettings) -> float | None:
    """Seconds a finished stage took (from its runs' run.json), or None if it must run."""
    from dta_edge.models.tiny import cached_tiny_model
    from dta_edge.runs import finished_run, run_seconds

    if stage == "model":  # the cache is the record: built once, then found
        cached = [cached_tiny_model(_config(n)) for n in (settings.student, settings.big)]
        return 0.0 if all(cached) else None
    runs = [finished_run(folder) for folder in _stage_folders(out, stage, settings)]
    if not runs or any(run is None for run in runs):
        return None
    return sum(run_seconds(run) for run in runs if run is not None)


def _analyze(out: Path, settings: DemoSettings, say: Say, bar: Bar) -> None:
    """The four analyses on the demo's students: loss, token shift, drift, pairwise."""
    from dta_edge.analysis.drift import analyze_drift
    from dta_edge.analysis.inputs import load_model
    from dta_edge.analysis.loss_curves import write_loss_analysis
    from dta_edge.analysis.token_shift import Lexicon, analyze_token_shift
    from dta_edge.storage import write_jsonl
    from dta_edge.tasks.generator import demo_held_out

    folder = out / L.DEMO_ANALYSIS
    runs = {name: out / L.DEMO_TRAIN / name for name in FINE_TUNED}
    say(f"loss-curve comparison: {write_loss_analysis(runs, folder / L.ANALYSIS_LOSS, None)}")

    held_out = demo_held_out(settings.analysis_problems)
    write_jsonl(folder / L.PROBLEMS, held_out)
    sources = _sources(settings, out / L.DEMO_TRAIN)
    models = [load_model(name, str(sources[name])) for name in ("base", "distilled", "dta")]
    lexicon = load_config(resolve_file("analysis/lexicon.yaml", "analysis"), Lexicon)
    pairs = [(p.question, p.solution or "") for p in held_out]
    with bar("token shift", len(pairs)) as advance:
        path = analyze_token_shift(
            models[0], models[1:], pairs, lexicon, folder / L.ANALYSIS_TOKEN_SHIFT,
            on_progress=lambda n, d, t: advance(d, n, t),
        )  # fmt: skip
    gains = json.loads(path.read_text())["models"]
    say("token shift: " + "; ".join(
        f"{name} {m['mean_gain_per_token']:+.3f} nats/token, top gainer "
        f"{m['top_gainers'][0]['word']!r}" for name, m in gains.items()))  # fmt: skip
    benchmarks = {
        f"demo-{tier}": [p.question for p in held_out if p.difficulty == tier]
        for tier in ("basic", "advanced")
    }  # fmt: skip
    benchmarks = {name: prompts for name, prompts in benchmarks.items() if len(prompts) >= 3}
    path = analyze_drift(models, benchmarks, folder / L.ANALYSIS_DRIFT)
    drift = json.loads(path.read_text())
    last = [r for r in drift["drift"] if r["layer"] == drift["last_layer"]]
    say("drift: " + "; ".join(f"{r['benchmark']} L{r['layer']} {r['model']} "
                              f"{r['centroid_l2_relative'] * 100:.2f}%" for r in last))  # fmt: skip
    _pairwise(out, folder, settings.analysis_problems, say, bar)


def _pairwise(out: Path, folder: Path, n: int, say: Say, bar: Bar) -> None:
    """DTA against distilled-only on the first ``n`` bench problems, judged by the big baseline.

    A model of a few million parameters was never taught to judge: expect ties.
    """
    from dta_edge.analysis.pairwise import read_answers, run_pairwise
    from dta_edge.backends.registry import Spec, open_generator
    from dta_edge.records import Problem
    from dta_edge.storage import read_jsonl

    judge_model = _model_path(out / L.DEMO_EXPORT, BIG, GGUF)
    judge = open_generator(Spec("llama-cpp", judge_model, {"n_threads": 1}), lambda ref: ref)
    problems = read_jsonl(out / L.DEMO_BENCH / L.PROBLEMS, Problem)[:n]
    a, b = (read_answers(out / L.DEMO_BENCH, f"{v}-gguf") for v in ("dta", "distilled"))
    with bar("pairwise", 2 * len(problems)) as advance:
        path = run_pairwise(
            judge, f"llama-cpp:{BIG}-q8_0", problems, a, b, folder / L.ANALYSIS_PAIRWISE,
            max_tokens=96,
            on_progress=lambda n, d, t: advance(d, n, t),
        )  # fmt: skip
    result = json.loads(path.read_text())
    say(f"pairwise dta vs distilled (big-baseline judge): {result['a_wins']['count']} wins, "
        f"{result['ties']['count']} ties, {result['b_wins']['count']} losses")  # fmt: skip


def headline(data, settings: DemoSettings):
    """The paper's comparisons, measured: (deltas, notes, headline lines).

    DTA against distilled-only, the big baseline with thinking (accuracy, energy per output
    token), without thinking (latency) and its cons@k; both fine-tuned students against the base.
    """
    from dta_edge.report.deltas import headline_deltas

    cons = f"{BIG}-gguf-cons{settings.vote_k}"
    against = ["distilled-gguf", f"{BIG}-gguf-thinking", f"{BIG}-gguf", cons]
    deltas, notes = headline_deltas(data.systems, data.reported, against, data.scores,
                                    data.votes, only=["dta-gguf"])  # fmt: skip
    lifts, more = headline_deltas(data.systems, data.reported, ["base-gguf"], data.scores,
                                  data.votes, only=["distilled-gguf", "dta-gguf"])  # fmt: skip
    wanted = {
        ("distilled-gguf", "pass@1"), ("distilled-gguf", "pass@1 over seeds"),
        (f"{BIG}-gguf-thinking", "pass@1"),
        (f"{BIG}-gguf-thinking", "J/token"), (f"{BIG}-gguf", "pass@1"),
        (f"{BIG}-gguf", "latency"), (cons, f"cons@{settings.vote_k}"),
    }  # fmt: skip
    lines = [f"{d.system}: {d.text}" for d in lifts if d.metric == "pass@1"]
    lines += [f"{d.system}: {d.text}" for d in deltas if (d.baseline, d.metric) in wanted]
    return lifts + deltas, notes + more, lines


def _report(out: Path, settings: DemoSettings, say: Say) -> None:
    from dta_edge.report.claims import ClaimRoles, paper_claims
    from dta_edge.report.collect import collect
    from dta_edge.report.render import write_report

    stages = (L.DEMO_BENCH, L.DEMO_CURATE, L.DEMO_TRAIN, L.DEMO_EXPORT, L.DEMO_ANALYSIS)
    data = collect([out / stage for stage in stages])
    deltas, notes, lines = headline(data, settings)
    roles = ClaimRoles(dta="dta-gguf", distilled="distilled-gguf",
                       big_thinking=f"{BIG}-gguf-thinking", big=f"{BIG}-gguf")  # fmt: skip
    claims = paper_claims(data, roles)
    write_report(data, deltas, notes, out / L.DEMO_REPORT, scope=SCOPE, claims=claims,
                 title="dta-edge demo: demo-tier student and big baseline on a CPU")  # fmt: skip
    for line in lines:
        say(f"headline: {line}")
    for row in claims:
        say(f"claim: {row.claim}: {row.verdict} (ours {row.ours}; paper {row.paper})")
    say(f"report: {len(data.systems)} systems, {len(deltas)} headline deltas")

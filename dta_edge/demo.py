"""`dta demo`: the whole chain on the embedded tiny model, offline, resumable stage by stage.

tiny model -> Phase I (reference teacher + the tiny GGUF behind llama.cpp's OpenAI server on
127.0.0.1) -> Phase II -> selection -> LoRA on the DTA and the distilled-only sets -> GGUF Q8_0
and ONNX int8 exports of base, distilled-only and DTA -> bench (thinking on/off, cons@k, llama.cpp
and ONNX Runtime) -> report. A finished stage leaves a marker; a rerun skips it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from dta_edge import layout as L
from dta_edge.backends.llama_server import serve_gguf
from dta_edge.config import FrozenModel, load_config
from dta_edge.export.embedded import exporting_resolver
from dta_edge.shipped import resolve_file, shipped_folder

Say = Callable[[str], None]
Bar = Callable[[str, int], object]  # (description, total) -> context yielding advance()
VARIANTS = ("base", "distilled", "dta")  # the student untuned, distilled-only, DTA
STAGES = ("model", "curate", "train", "export", "bench", "analyze", "report")


class DemoSettings(FrozenModel):
    """Sizes of one demo run (the fast variant is what the test suite runs)."""

    problems: int = 24
    bench_problems: int = 12
    vote_k: int = 4
    max_tokens: int = 96
    analysis_problems: int = 40


FAST = DemoSettings(problems=6, bench_problems=3, vote_k=2, max_tokens=32, analysis_problems=12)


def _nullbar(_description: str, _total: int):
    from contextlib import nullcontext

    return nullcontext(lambda *_args, **_kwargs: None)


def _curate(out: Path, settings: DemoSettings, targets: Path | None, say: Say, bar: Bar) -> None:
    from dta_edge.curation.pipeline import run_curation
    from dta_edge.curation.recipe import CurationRecipe, ModelSpec, TeacherSpec
    from dta_edge.models.tiny import tiny_model
    from dta_edge.tasks.sources import load_problem_source

    recipe = load_config(resolve_file("curation/demo.yaml", "curation"), CurationRecipe)
    gguf = Path(exporting_resolver(targets)("embedded:tiny@cpu-gguf-q8_0"))
    problems_cfg = recipe.problems.generate.model_copy(update={"n": settings.problems})
    with serve_gguf(gguf, n_threads=1) as base:
        say(f"teacher server: llama.cpp on {base}")
        served = TeacherSpec(
            name="tiny-server", k=2, concurrency=2, seed=3,
            model=ModelSpec(
                backend="openai", model="tiny",
                options={"base_url": base, "api": "completions",
                         "chat_template": str(tiny_model().path),
                         "extra_body": {"repeat_penalty": 1.0}},
                sampling={"temperature": 0.7, "top_p": 0.95, "max_tokens": 160},
            ),
        )  # fmt: skip
        recipe = recipe.model_copy(update={
            "teachers": (*recipe.teachers, served),
            "problems": recipe.problems.model_copy(update={"generate": problems_cfg}),
        })  # fmt: skip
        problems = load_problem_source(
            recipe.problems, recipe.n, resolve_file("curation/demo.yaml", "curation")
        )
        funnel = run_curation(recipe, problems, out, resolve=exporting_resolver(targets), bar=bar)
    if funnel is None:  # every step ran, select included: a funnel always comes back
        raise RuntimeError("curation returned no funnel")
    outputs = funnel.outputs
    say(f"curation: {funnel.phase1.candidates} candidates -> sft {outputs[L.SFT]}, "
        f"distilled {outputs[L.DISTILLED]}")  # fmt: skip


def _train(out: Path, curated: Path, targets: Path | None, say: Say) -> None:
    from dta_edge.train.recipe import TrainRecipe
    from dta_edge.train.sft import train

    recipe = load_config(resolve_file("curation/train-demo.yaml", "curation"), TrainRecipe)
    for name, data in (("dta", L.SFT), ("distilled", L.DISTILLED)):
        summary = train(
            recipe, curated / data, out / name, resolve=exporting_resolver(targets), quiet=True
        )
        if summary is not None:  # None only on a non-writing rank, never in the demo
            say(f"train {name}: {summary.steps} steps, eval loss {summary.eval_loss}")


def _export(out: Path, adapters: Path, targets: Path | None, say: Say) -> None:
    from dta_edge.export.runner import export_model
    from dta_edge.export.targets import ExportTarget
    from dta_edge.layout import MANIFEST
    from dta_edge.models.tiny import tiny_model

    base = tiny_model().path
    for variant, adapter in (("base", None), ("distilled", adapters / "distilled" / L.ADAPTER),
                             ("dta", adapters / "dta" / L.ADAPTER)):  # fmt: skip
        for target_name in ("cpu-gguf-q8_0", "cpu-onnx-int8"):
            folder = out / f"{variant}-{target_name}"
            if (folder / MANIFEST).exists():
                continue
            target_file = (targets or shipped_folder("export")) / f"{target_name}.yaml"
            target = load_config(target_file, ExportTarget)
            target = target.model_copy(update={"parity_texts": 3})
            manifest = export_model(target, base, folder, adapter)
            say(f"export {variant} {target_name}: top-1 agreement "
                f"{manifest.parity.get('top1_agreement', float('nan')):.4f}")  # fmt: skip


def _model_path(exports: Path, variant: str, target: str) -> str:
    from dta_edge.export.runner import exported_model

    return str(exported_model(exports / f"{variant}-{target}"))


def _bench(
    out: Path, exports: Path, settings: DemoSettings, targets: Path | None, say: Say, bar: Bar
) -> None:
    from dta_edge.bench.runner import run_suite
    from dta_edge.bench.suite import BenchSuite
    from dta_edge.profiles import DeviceProfile

    systems = []
    for variant in VARIANTS:
        gguf = _model_path(exports, variant, "cpu-gguf-q8_0")
        onnx = _model_path(exports, variant, "cpu-onnx-int8")
        sampling = {"max_tokens": settings.max_tokens}
        systems += [
            {"name": f"{variant}-gguf", "backend": "llama-cpp", "model": gguf,
             "quantization": "q8_0", "sampling": sampling},
            {"name": f"{variant}-gguf-thinking", "backend": "llama-cpp", "model": gguf,
             "quantization": "q8_0", "thinking": True, "thinking_budget": settings.max_tokens // 2,
             "sampling": {"max_tokens": settings.max_tokens * 3 // 2}},
            {"name": f"{variant}-gguf-cons{settings.vote_k}", "backend": "llama-cpp",
             "model": gguf, "quantization": "q8_0", "k": settings.vote_k,
             "sampling": {"temperature": 0.7, "top_p": 0.95, **sampling}},
            {"name": f"{variant}-onnx", "backend": "onnx", "model": onnx,
             "quantization": "int8", "sampling": sampling},
        ]  # fmt: skip
    suite = BenchSuite.model_validate_json(json.dumps({
        "name": "demo", "problems": {"generate": {"n": settings.bench_problems, "seed": 11}},
        "warmup": 1, "systems": systems,
    }))  # fmt: skip
    profile = load_config(resolve_file("profiles/cpu.yaml", "profiles"), DeviceProfile)
    with bar("bench", len(systems)) as advance:
        summaries = run_suite(
            suite, resolve_file("bench/demo.yaml", "bench"), profile, out,
            resolve=exporting_resolver(targets),
            on_notice=say,
            on_progress=lambda name, done, total: advance(done, name, total),
        )  # fmt: skip
    best = max(summaries, key=lambda s: s.pass_at_1)
    say(f"bench: {len(summaries)} systems; best pass@1 {best.pass_at_1 * 100:.1f}% ({best.system})")


def run_demo(
    out: Path,
    settings: DemoSettings,
    say: Say,
    targets: Path | None = None,
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
    timings: dict[str, float] = {}
    steps = {
        "model": lambda: say(f"tiny model: {_tiny_path()}"),
        "curate": lambda: _curate(out / L.DEMO_CURATE, settings, targets, say, bar),
        "train": lambda: _train(out / L.DEMO_TRAIN, out / L.DEMO_CURATE, targets, say),
        "export": lambda: _export(out / L.DEMO_EXPORT, out / L.DEMO_TRAIN, targets, say),
        "bench": lambda: _bench(
            out / L.DEMO_BENCH, out / L.DEMO_EXPORT, settings, targets, say, bar
        ),
        "analyze": lambda: _analyze(out, settings, targets, say, bar),
        "report": lambda: _report(out, say),
    }
    with run_record(out, "demo", settings.model_dump(mode="json"), overwrite=overwrite):
        for stage in STAGES:
            done = _finished_seconds(out, stage)
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


def _tiny_path() -> Path:
    from dta_edge.models.tiny import tiny_model

    return tiny_model().path


def _stage_folders(out: Path, stage: str) -> list[Path]:
    """The folders whose run.json say a demo stage finished (each stage writes its own)."""
    analysis = out / L.DEMO_ANALYSIS
    return {
        "curate": [out / L.DEMO_CURATE],
        "train": [out / L.DEMO_TRAIN / name for name in ("dta", "distilled")],
        "export": [out / L.DEMO_EXPORT / f"{variant}-{target}" for variant in VARIANTS
                   for target in ("cpu-gguf-q8_0", "cpu-onnx-int8")],
        "bench": [out / L.DEMO_BENCH],
        "analyze": [analysis / name for name in (L.ANALYSIS_LOSS, L.ANALYSIS_TOKEN_SHIFT,
                                                 L.ANALYSIS_DRIFT, L.ANALYSIS_PAIRWISE)],
        "report": [out / L.DEMO_REPORT],
    }.get(stage, [])  # fmt: skip


def _finished_seconds(out: Path, stage: str) -> float | None:
    """Seconds a finished stage took (from its runs' run.json), or None if it must run."""
    from dta_edge.models.tiny import cached_tiny_model
    from dta_edge.runs import finished_run, run_seconds

    if stage == "model":  # the cache is the record: built once, then found
        return 0.0 if cached_tiny_model() is not None else None
    runs = [finished_run(folder) for folder in _stage_folders(out, stage)]
    if not runs or any(run is None for run in runs):
        return None
    return sum(run_seconds(run) for run in runs if run is not None)


def _analyze(out: Path, settings: DemoSettings, targets: Path | None, say: Say, bar: Bar) -> None:
    """The four analyses on the demo's models: loss, token shift, drift, pairwise."""
    from dta_edge.analysis.drift import analyze_drift
    from dta_edge.analysis.inputs import load_model
    from dta_edge.analysis.loss_curves import write_loss_analysis
    from dta_edge.analysis.token_shift import Lexicon, analyze_token_shift
    from dta_edge.models.tiny import tiny_model
    from dta_edge.storage import write_jsonl
    from dta_edge.tasks.generator import ProblemsConfig, generate_problems

    folder = out / L.DEMO_ANALYSIS
    runs = {"dta": out / L.DEMO_TRAIN / "dta", "distilled": out / L.DEMO_TRAIN / "distilled"}
    say(f"loss-curve comparison: {write_loss_analysis(runs, folder / L.ANALYSIS_LOSS, None)}")

    held_out = list(generate_problems(ProblemsConfig(n=settings.analysis_problems, seed=23)))
    write_jsonl(folder / L.PROBLEMS, held_out)
    base = str(tiny_model().path)
    models = [load_model("base", base)] + [
        load_model(name, str(out / L.DEMO_TRAIN / name / L.ADAPTER), base=base)
        for name in ("distilled", "dta")
    ]  # fmt: skip
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
        f"telecom-{tier}": [p.question for p in held_out if p.difficulty == tier]
        for tier in ("basic", "advanced")
    }  # fmt: skip
    benchmarks = {name: prompts for name, prompts in benchmarks.items() if len(prompts) >= 3}
    path = analyze_drift(models, benchmarks, folder / L.ANALYSIS_DRIFT)
    drift = json.loads(path.read_text())
    last = [r for r in drift["drift"] if r["layer"] == drift["last_layer"]]
    say("drift: " + "; ".join(f"{r['benchmark']} L{r['layer']} {r['model']} "
                              f"{r['centroid_l2_relative'] * 100:.2f}%" for r in last))  # fmt: skip
    _pairwise(out, folder, targets, say, bar)


def _pairwise(out: Path, folder: Path, targets: Path | None, say: Say, bar: Bar) -> None:
    """DTA against distilled-only, judged by the tiny model (it cannot judge: all ties)."""
    from dta_edge.analysis.pairwise import read_answers, run_pairwise
    from dta_edge.backends.registry import Spec, open_generator
    from dta_edge.records import Problem
    from dta_edge.storage import read_jsonl

    judge = open_generator(
        Spec("llama-cpp", "embedded:tiny@cpu-gguf-q8_0", {"n_threads": 1}),
        exporting_resolver(targets),
    )
    problems = read_jsonl(out / L.DEMO_BENCH / L.PROBLEMS, Problem)
    a, b = (read_answers(out / L.DEMO_BENCH, f"{v}-gguf") for v in ("dta", "distilled"))
    with bar("pairwise", 2 * len(problems)) as advance:
        path = run_pairwise(
            judge, "llama-cpp:tiny-q8_0", problems, a, b, folder / L.ANALYSIS_PAIRWISE,
            max_tokens=96,
            on_progress=lambda n, d, t: advance(d, n, t),
        )  # fmt: skip
    result = json.loads(path.read_text())
    say(f"pairwise dta vs distilled (tiny judge): {result['a_wins']['count']} wins, "
        f"{result['ties']['count']} ties, {result['b_wins']['count']} losses")  # fmt: skip


def _report(out: Path, say: Say) -> None:
    from dta_edge.report.collect import collect
    from dta_edge.report.deltas import headline_deltas
    from dta_edge.report.render import write_report

    stages = (L.DEMO_BENCH, L.DEMO_CURATE, L.DEMO_TRAIN, L.DEMO_EXPORT, L.DEMO_ANALYSIS)
    data = collect([out / stage for stage in stages])
    # the paper's headline comparison: DTA (and the base) against the distilled-only control
    deltas, notes = headline_deltas(
        data.systems, data.reported, ["distilled-gguf"], data.scores, data.votes
    )
    write_report(data, deltas, notes, out / L.DEMO_REPORT,
                 title="dta-edge demo (embedded tiny model)", tiny=True)  # fmt: skip
    say(f"report: {len(data.systems)} systems, {len(deltas)} headline deltas")

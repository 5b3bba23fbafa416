"""Is DTA vs distilled-only more than one training run's luck? Train each arm with several seeds.

Takes a finished demo run (its curated sets and its cached student), fine-tunes the student on
each set once per seed with the demo's recipe (the seed moves the data order and the eval split),
exports every run to GGUF Q8_0, benches all of them on the same held-out problems without
thinking, and prints per-seed pass@1 and the pooled DTA - distilled-only difference with a
hierarchical bootstrap interval (seeds, then problems), beside the single-seed paired interval
of each seed pair:

    make demo
    .venv/bin/python benchmarks/demo_seeds.py --demo runs/demo --seeds 0 1 2 3 4 \
        --out /tmp/demo-seeds

Runs on the CPU in about 40 s per seed on 2 cores; a rerun resumes every stage it finished.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

ARMS = {"dta": "sft.jsonl", "distilled": "distilled.jsonl"}


def _train(demo: Path, out: Path, seeds: list[int]) -> dict[tuple[str, int], Path]:
    from dta_edge.config import load_config
    from dta_edge.demo import DemoSettings, _models
    from dta_edge.layout import FULL_MODEL
    from dta_edge.shipped import resolve_file
    from dta_edge.train.recipe import TrainRecipe
    from dta_edge.train.sft import train

    recipe = load_config(resolve_file("curation/train-demo-tier.yaml", "curation"), TrainRecipe)
    recipe = recipe.model_copy(update={"base_model": str(_models(DemoSettings())["student"])})
    folders = {}
    for seed in seeds:
        for arm, data in ARMS.items():
            folder = out / "train" / f"{arm}-seed{seed}"
            if not (folder / FULL_MODEL / "config.json").exists():
                started = time.perf_counter()
                train(recipe.model_copy(update={"seed": seed}), demo / "curate" / data, folder,
                      quiet=True, full=True, overwrite=True)  # fmt: skip
                print(f"trained {arm} seed {seed} in {time.perf_counter() - started:.1f} s")
            folders[arm, seed] = folder / FULL_MODEL
    return folders


def _export(folders: dict[tuple[str, int], Path], out: Path) -> dict[tuple[str, int], str]:
    from dta_edge.config import load_config
    from dta_edge.export.runner import export_model, exported_model
    from dta_edge.export.targets import ExportTarget
    from dta_edge.layout import MANIFEST
    from dta_edge.shipped import shipped_folder

    target = load_config(shipped_folder("export") / "cpu-gguf-q8_0.yaml", ExportTarget)
    target = target.model_copy(update={"parity_texts": 3})
    models = {}
    for (arm, seed), folder in folders.items():
        exported = out / "export" / f"{arm}-seed{seed}"
        if not (exported / MANIFEST).exists():
            export_model(target, folder, exported, overwrite=True)
        models[arm, seed] = str(exported_model(exported))
    return models


def _bench(models: dict[tuple[str, int], str], out: Path, problems: int) -> Path:
    from dta_edge.bench.runner import run_suite
    from dta_edge.bench.suite import BenchSuite
    from dta_edge.config import load_config
    from dta_edge.profiles import DeviceProfile
    from dta_edge.shipped import resolve_file
    from dta_edge.tasks.generator import DEMO_HELD_OUT

    held_out = DEMO_HELD_OUT.model_copy(update={"n": problems})
    systems = [{"name": f"{arm}-seed{seed}", "backend": "llama-cpp", "model": path,
                "quantization": "q8_0", "sampling": {"max_tokens": 96}}
               for (arm, seed), path in sorted(models.items())]  # fmt: skip
    suite = BenchSuite.model_validate_json(json.dumps({
        "name": "demo-seeds", "problems": {"generate": held_out.model_dump(mode="json")},
        "warmup": 1, "systems": systems,
    }))  # fmt: skip
    profile = load_config(resolve_file("profiles/cpu.yaml", "profiles"), DeviceProfile)
    bench = out / "bench"
    run_suite(suite, Path("benchmarks/demo_seeds.py"), profile, bench)
    return bench / "results.jsonl"


def _scores(results: Path) -> dict[str, dict[str, float]]:
    from dta_edge.records import BenchResult
    from dta_edge.storage import read_jsonl

    scores: dict[str, dict[str, float]] = defaultdict(dict)
    for row in read_jsonl(results, BenchResult):
        scores[row.system][row.problem_id] = float(row.correct)
    return scores


def main() -> None:
    """Train, export and bench every seed of both arms; print the seed table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=Path("runs/demo"), help="a finished demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--problems", type=int, default=200, help="held-out problems (≤ 400)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo-seeds"))
    args = parser.parse_args()
    import datasets
    import transformers

    from dta_edge.tasks.paired import paired_difference, seeded_difference

    datasets.disable_progress_bars()  # one line per trained run instead
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    started = time.perf_counter()
    models = _export(_train(args.demo, args.out, args.seeds), args.out)
    scores = _scores(_bench(models, args.out, args.problems))
    print(f"\n{len(args.seeds)} seeds per arm, {args.problems} held-out problems, "
          f"{time.perf_counter() - started:.0f} s\n")  # fmt: skip
    print("| seed | distilled-only pass@1 % | DTA pass@1 % | DTA - distilled, paired 95% CI |")
    print("|---|---|---|---|")
    for seed in args.seeds:
        dta, distilled = scores[f"dta-seed{seed}"], scores[f"distilled-seed{seed}"]
        diff = paired_difference(dta, distilled)
        share = {name: 100 * sum(s.values()) / len(s) for name, s in (("d", distilled), ("t", dta))}
        print(f"| {seed} | {share['d']:.1f} | {share['t']:.1f} | {diff.points:+.1f} "
              f"[{diff.low:+.1f}, {diff.high:+.1f}], McNemar p={diff.p_value:.2g} |")  # fmt: skip
    pooled = seeded_difference([scores[f"dta-seed{s}"] for s in args.seeds],
                               [scores[f"distilled-seed{s}"] for s in args.seeds])  # fmt: skip
    means = {arm: sum(sum(scores[f"{arm}-seed{s}"].values()) for s in args.seeds)
             / (len(args.seeds) * args.problems) * 100 for arm in ARMS}  # fmt: skip
    print(
        f"| pooled | {means['distilled']:.1f} | {means['dta']:.1f} | {pooled.points:+.1f} "
        f"[{pooled.low:+.1f}, {pooled.high:+.1f}] (hierarchical: seeds, then problems) |"
    )


if __name__ == "__main__":
    main()

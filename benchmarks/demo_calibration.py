"""Which embedded model, step budget and solution format can show the method on a laptop CPU.

For every cell of a grid (model size x pre-training steps x solution format) this builds a tiny
Qwen3 whose corpus is half the generator's demo tier, and measures greedy pass@1 (95% Wilson
interval) on held-out demo-tier problems, thinking off and on, with the build's seconds. Then it
builds the student the demo uses (no demo tier in its corpus), measures its pass@1, fine-tunes it
with the demo's LoRA recipe on reference solutions of demo-tier training problems, and measures
again: the lift a curated set can buy. Held-out questions are left out of every training set
(checked by id and by question text). Nothing is downloaded; builds go under --work.

    .venv/bin/python benchmarks/demo_calibration.py --work /tmp/calib [--problems 200]
        [--sizes small medium] [--steps 600 1500] [--formats steps oneshot] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZES = {  # name -> TinyModelConfig architecture fields
    "small": {"hidden_size": 128, "intermediate_size": 448, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32},
    "medium": {"hidden_size": 192, "intermediate_size": 640, "num_hidden_layers": 6,
               "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 32},
    "wide": {"hidden_size": 192, "intermediate_size": 768, "num_hidden_layers": 4,
             "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 32},
    "large": {"hidden_size": 256, "intermediate_size": 896, "num_hidden_layers": 8,
              "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 32},
}  # fmt: skip


def pass_at_1(model_dir: Path, problems, thinking: bool, max_new_tokens: int) -> dict:
    """Greedy pass@1 with its Wilson interval and mean output characters."""
    from dta_edge.models.evaluate import greedy_answers
    from dta_edge.tasks.scoring import score_text, wilson_interval

    started = time.perf_counter()
    texts = greedy_answers(model_dir, problems, thinking=thinking, max_new_tokens=max_new_tokens)
    scores = {p.id: float(score_text(t, p)[2]) for t, p in zip(texts, problems, strict=True)}
    correct = int(sum(scores.values()))
    low, high = wilson_interval(correct, len(problems))
    return {"pass_at_1": correct / len(problems), "low": low, "high": high, "correct": correct,
            "scores": scores,
            "chars": sum(map(len, texts)) / len(texts),
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def check_disjoint(trained, held_out) -> None:
    """Fail loudly if any held-out problem was trained on (same id or same question)."""
    ids = {p.id for p in trained} & {p.id for p in held_out}
    questions = {p.question for p in trained} & {p.question for p in held_out}
    if ids or questions:
        raise SystemExit(f"held-out leak: {len(ids)} ids, {len(questions)} questions")


def build(config, work: Path) -> tuple[Path, float]:
    """The model for ``config`` (built once under ``work``) and the seconds its build took."""
    from dta_edge.models.tiny import tiny_model

    build = tiny_model(config, cache_dir=work / "models")
    return build.path, float(build.info["build_seconds"])


def cell(size: str, steps: int, fmt: str, work: Path, held_out, max_new: int, **overrides) -> dict:
    """A model pre-trained with the demo tier in its corpus: what training on it buys."""
    from dta_edge.models.tiny import corpus_problems
    from dta_edge.models.tiny_config import TinyModelConfig
    from dta_edge.tasks.paired import paired_difference

    settings = {"demo_fraction": 0.5, "thinking_fraction": 0.5, **overrides}
    config = TinyModelConfig(**SIZES[size], steps=steps, demo_format=fmt, **settings)
    check_disjoint(corpus_problems(config), held_out)
    path, seconds = build(config, work)
    off = pass_at_1(path, held_out, False, max_new)
    on = pass_at_1(path, held_out, True, max_new * 2)
    thinking_gain = paired_difference(on.pop("scores"), off.pop("scores"))
    return {"kind": "pretrained-on-tier", "size": size, "steps": steps, "format": fmt, **settings,
            "parameters": json.loads((path / "dta_tiny.json").read_text())["parameters"],
            "build_seconds": seconds, "thinking_off": off, "thinking_on": on,
            "thinking_gain": thinking_gain.model_dump() if thinking_gain else None}  # fmt: skip


def sft_file(train_n: int, folder: Path, held_out) -> tuple[Path, int]:
    """Reference solutions (one operation per step) of demo-tier training problems, as SFT data."""
    from dta_edge.models.chat import user_prompt
    from dta_edge.records import ChatMessage, SFTExample
    from dta_edge.storage import write_jsonl
    from dta_edge.tasks.generator import ProblemsConfig, demo_training_problems

    problems = list(demo_training_problems(ProblemsConfig(n=train_n, seed=77, tier="demo",
                                                          advanced_fraction=0.5)))  # fmt: skip
    check_disjoint(problems, held_out)
    examples = [
        SFTExample(id=p.id, problem_id=p.id, set_name="dta", messages=(
            ChatMessage(role="user", content=user_prompt(p.question)),
            ChatMessage(role="assistant", content=p.solution or "")))
        for p in problems
    ]  # fmt: skip
    path = folder / f"sft-{train_n}.jsonl"
    write_jsonl(path, examples)
    return path, len(examples)


def student_lift(
    size: str, steps: int, work: Path, held_out, max_new: int, lift: str, **overrides
) -> dict:
    """The student before and after fine-tuning (``lift`` = TRAIN_N:LR:EPOCHS:lora|full|builder).

    lora and full use `dta train` with the demo's recipe (curation/train-demo.yaml) at the given
    learning rate and epochs; builder goes on with the tiny-model builder's own loop (all
    parameters, batch 16, EPOCHS passes over the data). The data are reference solutions of
    TRAIN_N generated training problems (fewer after the held-out questions are dropped). The
    lift comes with its paired 95% interval. ``overrides`` set the student's TinyModelConfig
    (demo_fraction, demo_format, thinking_fraction).
    """
    from dta_edge.config import load_config
    from dta_edge.export.merge import merge_adapter
    from dta_edge.layout import ADAPTER, FULL_MODEL
    from dta_edge.models.tiny_config import TinyModelConfig
    from dta_edge.shipped import resolve_file
    from dta_edge.tasks.paired import paired_difference
    from dta_edge.train.recipe import TrainRecipe
    from dta_edge.train.sft import train

    train_n, lr, epochs, mode = lift.split(":")
    config = TinyModelConfig(**SIZES[size], steps=steps, **overrides)
    path, seconds = build(config, work)
    base = pass_at_1(path, held_out, False, max_new)
    base_thinking = pass_at_1(path, held_out, True, max_new * 2)
    base_thinking.pop("scores")
    folder = work / f"lift-{config.cache_key()}-{lift.replace(':', '-')}"
    data, examples = sft_file(int(train_n), folder, held_out)
    recipe = load_config(resolve_file("curation/train-demo.yaml", "curation"), TrainRecipe)
    recipe = recipe.model_copy(update={"base_model": str(path), "learning_rate": float(lr),
                                       "epochs": float(epochs)})  # fmt: skip
    started = time.perf_counter()
    if mode == "builder":
        from dta_edge.models.chat import render_completion, render_prompt
        from dta_edge.models.tiny import train_further
        from dta_edge.records import SFTExample
        from dta_edge.storage import read_jsonl

        pairs = [(render_prompt(e.messages[0].content, thinking=False),
                  render_completion(e.messages[-1].content, reasoning=None))
                 for e in read_jsonl(data, SFTExample)]  # fmt: skip
        further = config.model_copy(
            update={
                "learning_rate": float(lr),
                "warmup_steps": 10,
                "steps": round(float(epochs) * len(pairs) / 16),
            }
        )
        train_further(path, pairs, further, folder / "builder")  # fmt: skip
    else:
        train(recipe, data, folder / "train", quiet=True, overwrite=True, full=mode == "full")
    train_seconds = time.perf_counter() - started
    if mode == "builder":
        tuned_dir = folder / "builder"
    elif mode == "full":
        tuned_dir = folder / "train" / FULL_MODEL
    else:
        tuned_dir = merge_adapter(path, folder / "train" / ADAPTER, folder / "merged")
    tuned = pass_at_1(tuned_dir, held_out, False, max_new)
    lift_ci = paired_difference(tuned.pop("scores"), base.pop("scores"))
    return {"kind": "student-lift", "size": size, "steps": steps, **overrides,
            "base_thinking": base_thinking,
            "train_problems": int(train_n), "sft_examples": examples, "learning_rate": float(lr),
            "epochs": float(epochs), "mode": mode, "build_seconds": seconds,
            "train_seconds": round(train_seconds, 1), "base": base, "tuned": tuned,
            "lift": lift_ci.model_dump() if lift_ci else None}  # fmt: skip


def _pct(r: dict) -> str:
    return f"{r['pass_at_1'] * 100:.1f}% [{r['low'] * 100:.1f}, {r['high'] * 100:.1f}]"


def main() -> None:
    """Run the grid and the student's lift; print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/dta-calibration"))
    parser.add_argument("--problems", type=int, default=200, help="held-out demo-tier problems")
    parser.add_argument("--sizes", nargs="+", default=["small", "medium"], choices=list(SIZES))
    parser.add_argument("--steps", nargs="+", type=int, default=[600, 1500])
    parser.add_argument("--formats", nargs="+", default=["steps", "oneshot"])
    parser.add_argument("--student", default="small:600", help="SIZE:STEPS of the student")
    parser.add_argument(
        "--lift",
        nargs="+",
        default=["600:2e-3:3:lora"],
        help="TRAIN_N:LR:EPOCHS:lora|full fine-tunes of the student",
    )
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--json", type=Path, help="append every result as a JSON line here")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--table", type=Path, help="only print the tables of a --json file")
    parser.add_argument("--skip-student", action="store_true")
    parser.add_argument("--demo-fraction", type=float, default=0.5)
    parser.add_argument("--corpus", type=int, default=4000, help="corpus problems")
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument(
        "--thinking-fraction", type=float, default=0.5, help="share of think-block examples"
    )
    parser.add_argument(
        "--student-format", default="steps", choices=["steps", "oneshot", "answer"],
        help="the student's demo-tier answers with thinking off (answer: the boxed answer alone)",
    )  # fmt: skip
    parser.add_argument("--student-thinking", type=float, default=0.25)
    args = parser.parse_args()
    if args.table:
        print_tables([json.loads(line) for line in args.table.read_text().splitlines() if line])
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    from dta_edge.tasks.generator import demo_held_out

    held_out = demo_held_out(args.problems)
    results = []

    def keep(result: dict) -> None:
        results.append(result)
        if args.json:
            with args.json.open("a") as sink:
                sink.write(json.dumps(result) + "\n")
        print(json.dumps(result), flush=True)

    size, steps = args.student.split(":")
    for lift in [] if args.skip_student else args.lift:  # the student first
        keep(student_lift(size, int(steps), args.work, held_out, args.max_new_tokens, lift,
                          demo_fraction=args.demo_fraction, demo_format=args.student_format,
                          thinking_fraction=args.student_thinking))  # fmt: skip
    if not args.skip_grid:
        for size in args.sizes:
            for steps in args.steps:
                for fmt in args.formats:
                    if size != "small" and steps != min(args.steps):
                        continue  # larger models at the smallest budget only (2 cores)
                    keep(cell(size, steps, fmt, args.work, held_out, args.max_new_tokens,
                              demo_fraction=args.demo_fraction, corpus_problems=args.corpus,
                              learning_rate=args.lr,
                              thinking_fraction=args.thinking_fraction))  # fmt: skip
    print_tables(results)


def _ci(paired: dict | None) -> str:
    if not paired:
        return "–"
    return f"{paired['points']:+.1f} [{paired['low']:+.1f}, {paired['high']:+.1f}]"


def print_tables(results: list[dict]) -> None:
    """The calibration's two tables, in Markdown."""
    print(
        "\nHeld-out demo-tier problems, greedy; pass@1 [95% Wilson]; gains in points [paired 95%]\n"
    )
    print("| model | params | steps | demo share | format | build s | thinking off | thinking on "
          "| thinking gain |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["kind"] == "pretrained-on-tier":
            print(f"| {r['size']} | {r['parameters'] / 1e6:.2f} M | {r['steps']} "
                  f"| {r.get('demo_fraction', 0.5)} | {r['format']} | {r['build_seconds']:.0f} "
                  f"| {_pct(r['thinking_off'])} | {_pct(r['thinking_on'])} "
                  f"| {_ci(r.get('thinking_gain'))} |")  # fmt: skip
    print("\n| student | steps | SFT examples | fine-tune | build s | train s | base | fine-tuned "
          "| lift |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["kind"] == "student-lift":
            mode, lr, epochs = (
                r.get("mode", "lora"),
                r.get("learning_rate", 2e-3),
                r.get("epochs", 3),
            )
            print(f"| {r['size']} | {r['steps']} | {r.get('sft_examples', '–')} "
                  f"| {mode} lr {lr:g} x{epochs:g} "
                  f"| {r['build_seconds']:.0f} | {r['train_seconds']:.0f} | {_pct(r['base'])} "
                  f"| {_pct(r['tuned'])} | {_ci(r.get('lift'))} |")  # fmt: skip


if __name__ == "__main__":
    main()

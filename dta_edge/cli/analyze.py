"""`dta analyze`: the paper's supporting analyses, each writing JSON + PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import Overwrite, console

analyze_app = typer.Typer(help="Analyses behind the method's claims (JSON + PNG per analysis).")


@analyze_app.command("loss")
def loss(
    runs: Annotated[
        list[str], typer.Argument(help="NAME=TRAIN_DIR pairs, e.g. dta=runs/train-dta")
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/analysis/loss"
    ),
    threshold: Annotated[
        float | None, typer.Option(help="Loss to reach; default: the highest of the minima.")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Overlay training and held-out loss; minimum, its step, and steps to a threshold.

    Examples:
      dta analyze loss dta=runs/train-dta distilled=runs/train-distilled --out runs/loss
    """
    from dta_edge.analysis.loss_curves import write_loss_analysis
    from dta_edge.cli._common import parse_key_values

    pairs = {k: Path(v) for k, v in parse_key_values(runs, "NAME=TRAIN_DIR argument").items()}
    path = write_loss_analysis(pairs, out_path, threshold, overwrite=overwrite)
    import json

    result = json.loads(path.read_text())
    for split in ("train", "eval"):
        if split in result:
            console.print(f"{split} (threshold {result[split]['threshold']:.4f}):")
            for s in result[split]["runs"]:
                console.print(f"  {s['run']}: min {s['minimum']:.4f} at step {s['minimum_step']}, "
                          f"reaches the threshold at step {s['steps_to_threshold']}")  # fmt: skip
    console.print(f"[bold]{path}[/bold] and [bold]{path.with_suffix('.png')}[/bold]")


Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Batch = Annotated[int, typer.Option(min=1, help="Sequences per forward pass.")]


def _named(items: list[str], default_prefix: str) -> list[tuple[str, str]]:
    """'NAME=MODEL' or 'MODEL' items (comma-separated lists allowed) -> (name, model) pairs."""
    pairs = []
    for item in (part for chunk in items for part in chunk.split(",") if part):
        name, sep, model = item.partition("=")
        if not sep:
            name, model = f"{default_prefix}{len(pairs) + 1}", item
        pairs.append((name, model))
    return pairs


@analyze_app.command("token-shift")
def token_shift(
    base: Annotated[
        str, typer.Option(help="The model before fine-tuning: folder, hub id or embedded:tiny.")
    ],
    tuned: Annotated[
        list[str],
        typer.Option(
            help="Fine-tuned model(s): NAME=MODEL, repeatable or comma-separated; "
            "an adapter folder is merged onto --base."
        ),  # fmt: skip
    ],
    data: Annotated[Path, typer.Option(help="JSONL of problems with solutions, or SFT examples.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/analysis/token-shift"
    ),
    lexicon: Annotated[
        Path, typer.Option(help="Word classes (kind: lexicon); default: the shipped lexicon.")
    ] = Path("analysis/lexicon.yaml"),
    limit: Annotated[int, typer.Option(min=1, help="Solutions to score.")] = 500,
    top: Annotated[int, typer.Option(min=1, help="Gainers and losers to list.")] = 25,
    batch_size: Batch = 8,
    device: Device = "auto",
    overwrite: Overwrite = False,
) -> None:
    r"""Which words of reference solutions fine-tuning made more likely (teacher forcing).

    Examples:
      dta analyze token-shift --base embedded:tiny --tuned dta=runs/train-dta/adapter \\
          --data runs/curate/sft.jsonl --out runs/shift
    """
    import json

    from dta_edge.analysis.inputs import load_model, read_pairs
    from dta_edge.analysis.token_shift import Lexicon, analyze_token_shift
    from dta_edge.cli._common import progress_bar
    from dta_edge.config import load_config
    from dta_edge.shipped import resolve_file

    words = load_config(resolve_file(lexicon, "analysis"), Lexicon)
    pairs = read_pairs(data, limit)
    base_lm = load_model("base", base, device=device)
    tuned_lms = [load_model(name, ref, base=base, device=device)
                 for name, ref in _named(tuned, "tuned")]  # fmt: skip
    with progress_bar(console, "token shift", len(pairs)) as advance:
        path = analyze_token_shift(
            base_lm, tuned_lms, pairs, words, out_path, top=top, batch_size=batch_size,
            on_progress=lambda name, done, total: advance(done, name, total), overwrite=overwrite,
        )  # fmt: skip
    result = json.loads(path.read_text())
    for name, model in result["models"].items():
        gainers = ", ".join(f"{w['word']!r} {w['gain']:+.2f}" for w in model["top_gainers"][:8])
        gain = model["mean_gain_per_token"]
        console.print(
            f"[bold]{name}[/bold]: mean gain {gain:+.4f} nats/token; top gainers {gainers}"
        )
        for row in model["classes"]:
            share = row["share_of_positive_gain"]
            share_text = "–" if share is None else f"{share * 100:.1f}%"
            console.print(f"  {row['class']}: {row['tokens']} tokens, gain {row['gain']:+.2f}, "
                      f"{share_text} of the positive gain")  # fmt: skip
    console.print(f"[bold]{path}[/bold] and word clouds in {out_path}")


@analyze_app.command("drift")
def drift(
    models: Annotated[
        list[str],
        typer.Option(help="NAME=MODEL, repeatable or comma-separated; the first is the base."),
    ],
    data: Annotated[list[Path], typer.Option(help="Benchmark JSONL(s); prompts = questions.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/analysis/drift"
    ),
    layer: Annotated[
        int | None, typer.Option(help="Extra layer to pool (0 = embeddings); default middle.")
    ] = None,
    limit: Annotated[int, typer.Option(min=3, help="Prompts per benchmark.")] = 200,
    base: Annotated[str | None, typer.Option(help="Base for adapter folders.")] = None,
    batch_size: Batch = 8,
    device: Device = "auto",
    overwrite: Overwrite = False,
) -> None:
    r"""Hidden-state drift of tuned models from the base, per benchmark (PCA on the base).

    Examples:
      dta analyze drift --models base=embedded:tiny,dta=runs/train-dta/adapter \\
          --data runs/problems/problems.jsonl --out runs/drift
    """
    import json

    from dta_edge.analysis.drift import analyze_drift
    from dta_edge.analysis.inputs import load_model, read_pairs
    from dta_edge.cli._common import progress_bar

    named = _named(models, "model")
    loaded = [load_model(name, ref, base=base or named[0][1], device=device)
              for name, ref in named]  # fmt: skip
    benchmarks = {path.stem: [q for q, _ in read_pairs(path, limit, need_solution=False)]
                  for path in data}  # fmt: skip
    with progress_bar(console, "drift", len(loaded) * len(benchmarks)) as advance:
        path = analyze_drift(
            loaded, benchmarks, out_path, layer=layer, batch_size=batch_size,
            on_progress=lambda name, done, total: advance(done, name, total), overwrite=overwrite,
        )  # fmt: skip
    result = json.loads(path.read_text())
    for row in result["drift"]:
        console.print(f"{row['benchmark']} layer {row['layer']} {row['model']}: centroid L2 "
                  f"{row['centroid_l2']:.4g} ({row['centroid_l2_relative'] * 100:.2f}% of the base "
                  f"norm), cosine distance {row['centroid_cosine_distance']:.3g}")  # fmt: skip
    console.print(f"[bold]{path}[/bold] and [bold]{path.with_suffix('.png')}[/bold]")


@analyze_app.command("pairwise")
def pairwise(
    a: Annotated[Path, typer.Option(help="Bench run folder of model A (results.jsonl).")],
    b: Annotated[Path, typer.Option(help="Bench run folder of model B.")],
    judge: Annotated[
        str, typer.Option(help="Judge backend: llama-cpp, openai, transformers, onnx, vllm.")
    ],
    judge_model: Annotated[str, typer.Option(help="Judge model (path, GGUF, served name).")],
    data: Annotated[
        Path | None,
        typer.Option(help="The problems (any math set); default: A's run's problems.jsonl."),
    ] = None,
    field_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Field map preset (telemath, gsm8k, math, olympiadbench) or "
            "YAML for --data; default: dta problem records.",
        ),  # fmt: skip
    ] = None,
    a_system: Annotated[str | None, typer.Option(help="System in A's run, if several.")] = None,
    b_system: Annotated[str | None, typer.Option(help="System in B's run, if several.")] = None,
    judge_option: Annotated[
        list[str] | None,
        typer.Option(help="Backend option KEY=VALUE (JSON values), e.g. base_url=http://..."),
    ] = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/analysis/pairwise"
    ),
    reference: Annotated[
        bool, typer.Option(help="Show the judge the reference answer when the data has one.")
    ] = True,
    thinking: Annotated[bool, typer.Option(help="Let the judge think first.")] = False,
    max_tokens: Annotated[int, typer.Option(min=16, help="Judge reply budget.")] = 256,
    workers: Annotated[int, typer.Option(min=1, help="Requests in flight (servers).")] = 1,
    overwrite: Overwrite = False,
) -> None:
    r"""Head-to-head: a judge compares two runs' answers, both orders, ties allowed.

    Examples:
      dta analyze pairwise --a runs/bench-dta --b runs/bench-distilled --judge llama-cpp \\
          --judge-model big.gguf --out runs/pairwise
    """
    from dta_edge.analysis.pairwise import pairwise_problems, read_answers, run_pairwise
    from dta_edge.backends.registry import Spec, open_generator
    from dta_edge.cli._common import json_or_text, parse_key_values, progress_bar
    from dta_edge.export.embedded import exporting_resolver

    given = parse_key_values(judge_option, "--judge-option")
    options = {key: json_or_text(value) for key, value in given.items()}
    problems = pairwise_problems(a, data, field_map)
    run_a, run_b = read_answers(a, a_system), read_answers(b, b_system)
    generator = open_generator(Spec(judge, judge_model, options), exporting_resolver())
    with progress_bar(console, "pairwise", 2 * len(problems)) as advance:
        path = run_pairwise(
            generator, f"{judge}:{Path(judge_model).name}", problems, run_a, run_b, out_path,
            reference=reference, max_tokens=max_tokens, thinking=thinking, workers=workers,
            on_progress=lambda name, done, total: advance(done, name, total), overwrite=overwrite,
        )  # fmt: skip
    _print_pairwise(path, run_a.system, run_b.system)


def _print_pairwise(path: Path, name_a: str, name_b: str) -> None:
    import json

    result = json.loads(path.read_text())
    for label, key in ((name_a, "a_wins"), ("tie", "ties"), (name_b, "b_wins")):
        row = result[key]
        low, high = row["ci95"]
        console.print(f"{label}: {row['count']}/{result['problems_judged']} "
                  f"[{low * 100:.1f}, {high * 100:.1f}]%")  # fmt: skip
    console.print(
        f"position consistency {result['position_consistency']}; failed {result['failed']}"
    )
    console.print(f"[bold]{path}[/bold] and [bold]{path.with_suffix('.png')}[/bold]")

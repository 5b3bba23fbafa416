"""The `dta` command: parse options, load the config, call one library function, print.

Every user error (bad config, bad record, bad data) exits with code 2 and a one-screen message.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dta_edge import __version__
from dta_edge._cli_analyze import analyze_app
from dta_edge._cli_bench import bench_app
from dta_edge._cli_curate import curate_app
from dta_edge._cli_export import export_app
from dta_edge._cli_report import demo_command, report_command
from dta_edge._cli_train import train_command
from dta_edge._console import make_console, progress_bar
from dta_edge.config import dump_config, load_config
from dta_edge.errors import DtaError

app = typer.Typer(
    help="dta-edge: adapt an LLM to telecom mathematics with Data Trajectory Alignment, "
    "export it for edge devices, and prove it with measured numbers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
config_app = typer.Typer(
    help="Inspect and validate YAML recipes, targets, suites and profiles.", no_args_is_help=True
)
problems_app = typer.Typer(
    help="Generate telecom problems or load benchmark sets (TeleMath, GSM8K, MATH).",
    no_args_is_help=True,
)
model_app = typer.Typer(
    help="Build the embedded tiny Qwen3 model and check how it answers.", no_args_is_help=True
)
score_app = typer.Typer(
    help="Extract final answers and compute pass@1, pass@k and cons@k.", no_args_is_help=True
)
app.add_typer(config_app, name="config")
app.add_typer(problems_app, name="problems")
app.add_typer(model_app, name="model")
app.add_typer(score_app, name="score")
app.add_typer(export_app, name="export")
app.add_typer(bench_app, name="bench")
app.add_typer(analyze_app, name="analyze")
app.add_typer(curate_app, name="curate")
app.command("train")(train_command)
app.command("report")(report_command)
app.command("demo")(demo_command)

out = make_console()

Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="If --out holds a run of another config, move it aside and start anew.",
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config; flags override its values.")
]


def _overrides(config_type, config_path: Path | None, **flags):
    """Config from file (or defaults) with the explicitly given flags applied on top."""
    from dta_edge.config import validate_mapping

    base = load_config(config_path, config_type) if config_path else config_type()
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return base
    return validate_mapping(
        config_type, {**base.model_dump(mode="json"), **given}, config_path or "<command line>"
    )


@app.command()
def version() -> None:
    """Print the dta-edge version and the versions of the libraries that change results."""
    from dta_edge.runs import package_versions

    out.print(f"dta-edge {__version__}")
    for name, found in package_versions().items():
        if name != "dta-edge":
            out.print(f"  {name} {found}")


@config_app.command("show")
def config_show(
    file: Annotated[Path, typer.Argument(help="A YAML file with a 'kind' key.")],
) -> None:
    """Validate a config and print it resolved, every default filled in."""
    out.print(dump_config(load_config(file)), end="", markup=False)


@config_app.command("validate")
def config_validate(
    files: Annotated[list[Path], typer.Argument(help="YAML files to check.")],
    schema_only: Annotated[
        bool,
        typer.Option(
            "--schema-only",
            help="Check keys and values only, not the files and models the config names (for "
            "a recipe meant for another machine).",
        ),
    ] = False,
) -> None:
    """Check configs: schema, every file and model they name, every backend option.

    Reports every problem with file, line and key path; exit 2 if any file has one.
    """
    from rich.markup import escape

    from dta_edge.config_checks import check_references

    failed = 0
    for file in files:
        try:
            config = load_config(file)
            if not schema_only:
                check_references(config, file)
        except DtaError as exc:
            failed += 1
            make_console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
            continue
        out.print(f"[green]ok[/green] {file} ({config.kind})")
    if failed:
        raise typer.Exit(2)


@problems_app.command("generate")
def problems_generate(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="A .jsonl file, or a run folder (gets problems.jsonl and run.json)."
        ),
    ],
    config: ConfigOpt = None,
    n: Annotated[int | None, typer.Option(help="Number of problems.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed; same seed, same bytes.")] = None,
    families: Annotated[
        str | None,
        typer.Option(help="Comma-separated family names (see `dta problems families`)."),
    ] = None,
    difficulty: Annotated[str | None, typer.Option(help="basic, advanced or mixed.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Generate telecom-mathematics problems with verified numeric answers and worked solutions."""
    from dta_edge.tasks.generator import ProblemsConfig, write_problems

    family_list = [f.strip() for f in families.split(",") if f.strip()] if families else None
    recipe = _overrides(
        ProblemsConfig, config, n=n, seed=seed, families=family_list, difficulty=difficulty
    )
    path = write_problems(recipe, out_path, overwrite=overwrite)
    out.print(f"wrote {recipe.n} problems to [bold]{path}[/bold]")


@problems_app.command("families")
def problems_families() -> None:
    """List the generator's problem families and their TeleMath categories."""
    from rich.table import Table

    from dta_edge.tasks.telecom import FAMILIES

    table = Table("family", "category")
    for family in sorted(FAMILIES.values(), key=lambda f: (f.category, f.name)):
        table.add_row(family.name, family.category)
    out.print(table)
    out.print(f"{len(FAMILIES)} families")


@problems_app.command("load")
def problems_load(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write problems.jsonl.")],
    path: Annotated[
        Path | None,
        typer.Argument(help="JSON, JSONL, CSV or Parquet file, or a datasets folder."),
    ] = None,
    hf: Annotated[
        str | None,
        typer.Option("--hf", help="Hub data set id, e.g. netop/TeleMath (needs hub access)."),
    ] = None,
    preset: Annotated[
        str,
        typer.Option("--format", help="telemath, gsm8k or math: the field mapping to start from."),
    ] = "telemath",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Override a mapping field, e.g. --map question=prompt."),
    ] = None,
    split: Annotated[str, typer.Option(help="Split of a datasets folder or hub set.")] = "test",
    config: ConfigOpt = None,
) -> None:
    """Load a benchmark into problem records, checking every row's fields.

    The field mapping starts from --format (or a field-map YAML given with --config); each --map
    overrides one field.
    """
    from dta_edge.config import validate_mapping
    from dta_edge.storage import write_jsonl
    from dta_edge.tasks.loaders import PRESETS, FieldMap, load_problems, read_hub_rows, read_rows

    if (path is None) == (hf is None):
        raise typer.BadParameter("give a local PATH or --hf NAME, not both and not neither")
    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown --format '{preset}'; valid: {', '.join(PRESETS)}")
    fields = (load_config(config, FieldMap) if config else PRESETS[preset]).model_dump()
    for item in mapping or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--map expects key=value, got '{item}'")
        fields[key] = value if value.lower() not in ("true", "false") else value.lower() == "true"
    field_map = validate_mapping(FieldMap, fields, "--map")
    rows = read_rows(path, split) if path is not None else read_hub_rows(hf, split)  # type: ignore[arg-type]
    problems = load_problems(rows, field_map, str(path) if path is not None else str(hf))
    write_jsonl(out_path, problems)
    out.print(f"wrote {len(problems)} problems to [bold]{out_path}[/bold]")


@model_app.command("tiny")
def model_tiny(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Folder to receive the model.")],
    config: ConfigOpt = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of tokenizer, weights and batches.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Pre-training steps.")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Build cache (default: the user cache dir).")
    ] = None,
) -> None:
    """Build (or take from cache) the embedded tiny Qwen3 and copy it to --out."""
    from dta_edge.models.tiny import export_tiny_model, tiny_model
    from dta_edge.models.tiny_config import TinyModelConfig

    recipe = _overrides(TinyModelConfig, config, seed=seed, steps=steps)
    with progress_bar(out, "pre-training tiny Qwen3", recipe.steps) as advance:
        build = tiny_model(
            recipe, cache_dir=cache_dir, on_step=lambda s, _t, loss: advance(s, f"loss {loss:.3f}")
        )
        advance(recipe.steps, "cached" if build.cached else "")
    export_tiny_model(build, out_path)
    info = build.info
    out.print(
        f"tiny model ({info['parameters']:,} parameters, vocab {info['vocab_size']}) "
        f"in [bold]{out_path}[/bold]; {'from cache' if build.cached else 'built'} "
        f"({info['build_seconds']} s build, final loss {info['final_loss']:.3f})"
    )


@model_app.command("check")
def model_check(
    model: Annotated[Path, typer.Argument(help="A transformers model folder.")],
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for completions, scores and check.json.")
    ],
    n: Annotated[int, typer.Option(help="Held-out generated problems.")] = 200,
    seed: Annotated[
        int,
        typer.Option(help="Problem seed; questions a tiny model trained on are skipped."),
    ] = 7,
    thinking: Annotated[bool, typer.Option(help="Qwen3 enable_thinking.")] = False,
    max_new_tokens: Annotated[int, typer.Option(help="Generation budget per answer.")] = 256,
) -> None:
    """Answer held-out problems greedily: well-formed rate and pass@1 by difficulty."""
    from dta_edge.models.evaluate import check_model

    with progress_bar(out, "answering", n) as advance:
        result = check_model(
            model,
            out_path,
            n=n,
            seed=seed,
            thinking=thinking,
            max_new_tokens=max_new_tokens,
            on_batch=advance,
        )
    summary = result.summary
    low, high = summary.pass_at_1_ci95
    out.print(
        f"well-formed {result.well_formed_rate:.1%}  answered {summary.answered_rate:.1%}  "
        f"pass@1 {summary.pass_at_1:.1%} [{low:.1%}, {high:.1%}]"
    )
    out.print(
        "pass@1 by difficulty: "
        + ", ".join(f"{k} {v:.1%}" for k, v in summary.by_difficulty.items())
    )
    out.print(f"details in [bold]{out_path / 'check.json'}[/bold]")


@score_app.command("run")
def score_run(
    problems: Annotated[Path, typer.Option(help="problems.jsonl with reference answers.")],
    completions: Annotated[
        Path, typer.Option(help="completions.jsonl (request_id = problem id, sample_index, text).")
    ],
    out_path: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for scores.jsonl, summary.json and run.json."),
    ],
    config: ConfigOpt = None,
    rel_tol: Annotated[
        float | None, typer.Option(help="Relative tolerance where a problem sets none.")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Score completions: pass@1 with its 95% interval, pass@k, cons@k. Resumes if interrupted."""
    from dta_edge.tasks.score_run import score_files
    from dta_edge.tasks.scoring import ScoreConfig

    recipe = _overrides(ScoreConfig, config, rel_tol=rel_tol)
    with progress_bar(out, "scoring", 0) as advance:
        summary = score_files(
            problems, completions, out_path, recipe, overwrite=overwrite,
            on_record=lambda i, t: advance(i, total=t),
        )  # fmt: skip
    low, high = summary.pass_at_1_ci95
    out.print(
        f"{summary.problems} problems x {summary.samples_per_problem} samples: "
        f"pass@1 {summary.pass_at_1:.2%} [{low:.2%}, {high:.2%}]"
    )
    for k, value in summary.pass_at_k.items():
        out.print(f"  pass@{k} {value:.2%}   cons@{k} {summary.cons_at_k[k]:.2%}")


@score_app.command("extract")
def score_extract(
    text: Annotated[str, typer.Argument(help="A model output.")],
    reference: Annotated[str | None, typer.Option(help="Reference answer to compare with.")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit of the reference answer.")] = None,
    rel_tol: Annotated[float, typer.Option(help="Relative tolerance.")] = 0.01,
) -> None:
    """Show which answer a text yields and, with --reference, whether it is right."""
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
    out.print_json(json.dumps(result))


def main() -> None:
    """Entry point of the `dta` console script."""
    try:
        app()
    except DtaError as exc:
        _fail(str(exc))
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        # An output path that names a file where a folder belongs (or the reverse): the user's
        # path, not our bug. Nothing was written over it.
        _fail(
            f"{exc.filename}: {exc.strerror}; a file stands where a folder is expected, or the "
            "reverse (check --out and the paths given)"
        )
    except (FileNotFoundError, PermissionError) as exc:
        _fail(f"{exc.filename}: {exc.strerror}")


def _fail(message: str) -> None:
    """Print one error to stderr (model text and paths shown verbatim, never as markup), exit 2."""
    from rich.text import Text

    make_console(stderr=True).print(Text("error: ", style="bold red") + Text(message))
    sys.exit(2)


if __name__ == "__main__":
    main()

"""`dta bench`: run a suite on a device profile; print and save the systems table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import Overwrite, TargetsDir, console
from dta_edge.config import load_config
from dta_edge.shipped import shipped_names


def _fmt(value: float | None, spec: str = ".3g", scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


def print_summaries(summaries, to=console) -> None:
    """The systems table, as the report shows it."""
    from rich.table import Table

    table = Table(
        "system", "pass@1 [95% CI]", "cons@k", "p50 lat s", "p90 lat s", "TTFT s", "tok/s",
        "tok/prob", "J/tok", "J/correct", "meter",
    )  # fmt: skip
    for s in summaries:
        low, high = s.pass_at_1_ci95
        cons = "-" if s.cons_at_k is None else f"{s.cons_at_k * 100:.1f} (k={s.k})"
        meter = s.meter + (" (estimated)" if s.energy_estimated else "")
        table.add_row(
            s.system, f"{s.pass_at_1 * 100:.1f} [{low * 100:.1f}, {high * 100:.1f}]", cons,
            _fmt(s.latency_median_s), _fmt(s.latency_p90_s), _fmt(s.ttft_median_s),
            _fmt(s.decode_tokens_per_s_median, ".1f"), _fmt(s.output_tokens_per_problem, ".1f"),
            _fmt(s.joules_per_output_token), _fmt(s.joules_per_correct), meter,
        )  # fmt: skip
    to.print(table)


def bench(
    suite: Annotated[
        Path | None,
        typer.Option(
            help="A suite YAML (kind bench-suite or reported), or a shipped suite's name: "
            f"{', '.join(shipped_names('bench'))}."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Bench one model without a suite: a .gguf file, an ONNX GenAI folder, a "
            "transformers folder, a hub id, embedded:tiny\\[@target], or a served name with "
            "--base-url."
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="With --model: auto (from the model), llama-cpp, onnx, "
            "transformers, openai or vllm."
        ),
    ] = "auto",
    base_url: Annotated[
        str | None, typer.Option(help="With --model: an OpenAI-compatible endpoint (…/v1).")
    ] = None,
    problems: Annotated[
        str,
        typer.Option(
            help="With --model: demo (the demo tier's 400 held-out problems), "
            "telemath (500 generated over TeleMath's categories) or a file."
        ),
    ] = "demo",
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N problems (with --suite too).")
    ] = None,
    thinking: Annotated[
        str, typer.Option(help="With --model: on, off or both (two systems).")
    ] = "off",
    k: Annotated[int, typer.Option(min=1, help="With --model: samples per problem.")] = 1,
    max_tokens: Annotated[
        int, typer.Option(min=1, help="With --model: output budget (twice with thinking).")
    ] = 512,
    profile: Annotated[
        Path,
        typer.Option(
            help="A device profile YAML, or a shipped profile's name: "
            f"{', '.join(shipped_names('profiles'))}."
        ),
    ] = Path("cpu"),
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Run folder (resumable).")] = Path(
        "runs/bench"
    ),
    targets_dir: TargetsDir = None,
    overwrite: Overwrite = False,
) -> None:
    """Benchmark systems (backend x model x thinking x k) for accuracy, latency and energy.

    Runs every system of --suite (or the one --model) on --profile; appends results.jsonl, writes
    summary.json and the suite as suite.yaml (repeat the run with --suite OUT/suite.yaml).

    Rerunning the same command resumes: finished requests are not sent again. A suite of kind
    'reported' (figures quoted from papers) is copied as reported rows and never run.

    Examples:
      dta bench --model model.gguf --limit 5 --out runs/first
      dta bench --model Qwen/Qwen3-8B --thinking both --problems telemath --out runs/qwen3
      dta bench --model qwen3-32b --base-url http://gpu-a:8000/v1 --k 4 --out runs/server
      dta bench --suite demo --profile cpu --out runs/bench
    """
    from dta_edge.bench.runner import run_suite
    from dta_edge.bench.suite import BenchSuite, ReportedResults, write_reported
    from dta_edge.cli._common import progress_bar
    from dta_edge.config_checks import check_references
    from dta_edge.errors import ConfigError
    from dta_edge.export.embedded import exporting_resolver
    from dta_edge.profiles import DeviceProfile
    from dta_edge.shipped import resolve_file

    if (suite is None) == (model is None):
        raise typer.BadParameter("give --suite or --model (one of them)")
    if model is not None:
        from dta_edge.bench.quick_suite import quick_suite

        if thinking not in ("on", "off", "both"):
            raise typer.BadParameter(f"--thinking takes on, off or both, not {thinking!r}")
        spec = quick_suite(
            model,
            backend=backend,
            base_url=base_url,
            problems=problems,  # type: ignore[arg-type]
            limit=limit,
            thinking=thinking,
            k=k,
            max_tokens=max_tokens,
        )  # type: ignore[arg-type]
        suite = Path("<dta bench --model>")  # what errors name; its problem file is absolute
    else:
        suite = resolve_file(suite, "bench")
        spec = load_config(suite)
        if isinstance(spec, ReportedResults):
            path = write_reported(spec, out_path, overwrite=overwrite)
            console.print(
                f"{len(spec.systems)} reported rows (not measured) -> [bold]{path}[/bold]"
            )
            return
        if not isinstance(spec, BenchSuite):
            raise ConfigError(suite, [f"kind: expected bench-suite or reported, got {spec.kind}"])
        if limit is not None:
            spec = spec.model_copy(update={"n": limit})
    check_references(spec, suite)
    device = load_config(resolve_file(profile, "profiles"), DeviceProfile)
    with progress_bar(console, "bench", len(spec.systems)) as advance:
        summaries = run_suite(
            spec, suite, device, out_path, resolve=exporting_resolver(targets_dir),
            on_progress=lambda name, done, total: advance(done, name, total),
            on_notice=lambda message: console.print(f"[yellow]{message}[/yellow]"),
            overwrite=overwrite,
        )  # fmt: skip
    print_summaries(summaries)
    console.print(f"results in [bold]{out_path / 'results.jsonl'}[/bold], "
              f"summary in [bold]{out_path / 'summary.json'}[/bold]; repeat with "
              f"[bold]--suite {out_path / 'suite.yaml'}[/bold]")  # fmt: skip

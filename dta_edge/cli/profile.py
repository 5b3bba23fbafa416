"""`dta profile`: measure this machine's limits into a device profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dta_edge.cli._common import console

profile_app = typer.Typer(
    help="Device profiles: measure this machine's memory bandwidth and llama.cpp's kernel rates "
    "(the roofline's two ceilings).",
    no_args_is_help=True,
)


@profile_app.command("measure")
def profile_measure(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Profile YAML to write.")] = Path(
        "runs/profile/measured.yaml"
    ),
    base: Annotated[
        str, typer.Option("--profile", help="Profile to start from (file or shipped name).")
    ] = "profiles/cpu.yaml",
    name: Annotated[str | None, typer.Option(help="Name of the new profile.")] = None,
    array_mib: Annotated[float, typer.Option(help="Size of each array (far above cache).")] = 512,
    repetitions: Annotated[int, typer.Option(help="Runs per kernel; the best counts.")] = 5,
    threads: Annotated[
        int | None, typer.Option(help="Default: the base profile's threads, else every core.")
    ] = None,
    compute: Annotated[
        bool,
        typer.Option(
            "--compute/--no-compute",
            help="Also time llama.cpp's matrix-vector kernels per weight type (the compute "
            "ceiling; needs llama-cpp-python).",
        ),
    ] = True,
) -> None:
    """Measure this machine's two decode ceilings and write them into a profile.

    Memory bandwidth (STREAM copy and triad) and llama.cpp's matrix-vector rate per quantized
    type, with decode's threads.

    Examples:
      dta profile measure --profile cpu --out profiles/my-laptop.yaml
    """
    import datetime

    from dta_edge.config import dump_config, load_config
    from dta_edge.meters.bandwidth import measure_bandwidth
    from dta_edge.profiles import DeviceProfile
    from dta_edge.shipped import resolve_file
    from dta_edge.storage import atomic_write_text

    profile = load_config(resolve_file(base, "profiles"), DeviceProfile)
    threads = threads or profile.threads
    console.print(f"measuring memory bandwidth: 3 x {array_mib:g} MiB, best of {repetitions}")
    result = measure_bandwidth(array_mib, repetitions, threads)
    update: dict = {"name": name or f"{profile.name}-measured",
                    "memory_bandwidth_gbs": round(result.best_gbs, 2)}  # fmt: skip
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"# memory_bandwidth_gbs measured by `dta profile measure` on {stamp}: STREAM copy "
              f"{result.copy_gbs:.2f} GB/s, triad {result.triad_gbs:.2f} GB/s, {result.threads} "
              f"threads, 3 x {array_mib:g} MiB arrays, best of {repetitions}.\n")  # fmt: skip
    console.print(f"copy {result.copy_gbs:.2f} GB/s, triad {result.triad_gbs:.2f} GB/s "
                  f"({result.threads} threads)")  # fmt: skip
    if compute:
        update["matvec_gflops"], line = _kernel_rates(result.threads)
        header += line
    measured = profile.model_copy(update=update)
    header += f"# Everything else is copied from {base}.\n"
    atomic_write_text(out_path, header + dump_config(measured))
    console.print(f"profile in [bold]{out_path}[/bold] with memory_bandwidth_gbs "
                  f"{measured.memory_bandwidth_gbs}"
                  + (" and matvec_gflops" if compute else ""))  # fmt: skip


def _kernel_rates(threads: int) -> tuple[dict[str, float], str]:
    """llama.cpp's matrix-vector GFLOP/s per weight type, and the profile's comment line on them."""
    from dta_edge.meters.compute_ceiling import measure_compute

    console.print("timing llama.cpp's matrix-vector kernels in cache")
    kernels = measure_compute(threads=threads)
    console.print("GFLOP/s: " + ", ".join(f"{kind} {rate:g}"
                                          for kind, rate in kernels.gflops.items()))  # fmt: skip
    line = (f"# matvec_gflops: llama.cpp's ggml matrix-vector kernels, {kernels.threads} threads, "
            f"square matrices of side {' and '.join(map(str, kernels.sizes))} (the faster "
            f"counts), best of {kernels.repetitions} graphs.\n")  # fmt: skip
    return kernels.gflops, line

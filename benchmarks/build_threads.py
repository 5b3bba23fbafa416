"""How fast the embedded models build with 1 or 2 threads, quiet and beside a busy core.

Each measurement is a fresh process that builds one model (the tiny default, the demo student,
the demo's big baseline, and the two `dta demo --fast` models) with 1 or 2 threads, or "auto"
(the builder's own choice: the cores other processes leave free, re-read every 20 steps) for its
first ``--steps`` optimizer steps, into a temporary folder; the steps are timed from the first
to the last (corpus and tokenizer set-up are timed apart), and the full build is extrapolated
from the per-step time.
"Busy" runs one competing process spinning a CPU core for the whole measurement, as a second job
on a 2-core laptop or CI runner would:

    .venv/bin/python benchmarks/build_threads.py --steps 60

Prints one row per model, thread count and load, then the ratios 1 thread / 2 threads and auto /
the faster fixed count (1.00: the builder chose as well as hindsight) for each.
Nothing is cached: the real builds (``dta model tiny``, the demo) are not touched.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = {"tiny": None, "demo-student": "curation/demo-student.yaml",
          "demo-big": "curation/demo-big.yaml",
          "demo-student-fast": "curation/demo-student-fast.yaml",
          "demo-big-fast": "curation/demo-big-fast.yaml"}  # fmt: skip
CHILD = """
import json, sys, time
from pathlib import Path
import torch
threads, name, steps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
from dta_edge.config import load_config
from dta_edge.models.tiny import build_tiny_model
from dta_edge.models.tiny_config import TinyModelConfig
config = load_config(Path(name), TinyModelConfig) if name != "-" else TinyModelConfig()
full = config.steps
config = config.model_copy(update={"steps": min(steps, full)})
marks = {}
def on_step(step, total, loss):
    marks.setdefault(step, time.perf_counter())
started = time.perf_counter()
fixed = None if threads == "auto" else int(threads)
info = build_tiny_model(config, out, on_step, threads=fixed)
first, last = min(marks), max(marks)
per_step = (marks[last] - marks[first]) / max(1, last - first)
print(json.dumps({"setup_s": marks[first] - started, "per_step_s": per_step, "full_steps": full,
                  "threads": threads, "steps_at_threads": info["steps_at_threads"]}))
"""


def measure(name: str, config: str | None, threads: str, steps: int, busy: bool) -> dict:
    """One build's set-up time and time per step, in a fresh process (a spinner beside it)."""
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with tempfile.TemporaryDirectory() as folder:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(threads), config or "-", str(steps),
                 str(Path(folder) / "model")],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    found = json.loads(out.stdout.strip().splitlines()[-1])
    found.update(
        model=name,
        busy=busy,
        full_build_s=found["setup_s"] + found["per_step_s"] * found["full_steps"],
    )
    return found


def main() -> None:
    """Measure every model under each thread count and load; print the table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps timed per build")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    started = time.perf_counter()
    rows = [measure(name, MODELS[name], threads, args.steps, busy)
            for name in args.models for busy in (False, True)
            for threads in ("1", "2", "auto")]  # fmt: skip
    print(f"\n{args.steps} steps timed per build; full build extrapolated; "
          f"{time.perf_counter() - started:.0f} s in all\n")  # fmt: skip
    print("| model | load | threads | set-up s | ms per step | full build s (extrapolated) | "
          "steps at each count |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        counts = ", ".join(f"{n}: {c}" for n, c in sorted(r["steps_at_threads"].items()))
        print(
            f"| {r['model']} | {'busy core' if r['busy'] else 'quiet'} | {r['threads']} | "
            f"{r['setup_s']:.1f} | {r['per_step_s'] * 1000:.0f} | {r['full_build_s']:.0f} | "
            f"{counts} |"
        )
    print("\n| model | load | 1 thread / 2 threads | auto / the faster fixed count |"
          "\n|---|---|---|---|")  # fmt: skip
    for name in args.models:
        for busy in (False, True):
            rates = {r["threads"]: r["per_step_s"] for r in rows
                     if (r["model"], r["busy"]) == (name, busy)}  # fmt: skip
            one, two, auto = rates["1"], rates["2"], rates["auto"]
            print(f"| {name} | {'busy core' if busy else 'quiet'} | {one / two:.2f} | "
                  f"{auto / min(one, two):.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()

"""Harness overhead on decode, measured in one run: tokens/s as dta bench sees them vs llama.cpp's.

1. Harness decode tokens/s (output tokens after the first / time after the first, wall clock,
   Python loop included) divided by llama.cpp's own eval rate (llama_perf_context n_eval /
   t_eval) on the same GGUF Q8_0, for the tiny model and a random-weight Qwen3 of ~0.45B
   parameters, where decode rather than Python dominates. Target: >= 0.97 on the 0.5B model.
2. Meter sampling overhead: decode tokens/s with a meter running (the Jetson INA3221 reader on a
   recorded sysfs tree at 20 Hz, the cpu-time estimator, CodeCarbon with one tracker for the
   whole run; NVML too where a GPU is present) over tokens/s with
   no meter, interleaved runs alternating which goes first, median ratio, printed beside an A/A
   control (no meter in either run) that shows the noise floor. Target: >= 0.99.

    .venv/bin/python benchmarks/decode_overhead.py [--work DIR] [--sizes tiny 0.5b]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

PROMPT = "Explain the free-space path loss formula and compute it for 2.4 GHz over 3 km."


def q8_0_gguf(model_dir: Path, work: Path, name: str) -> Path:
    """F32 GGUF with our writer, then llama.cpp's quantizer to Q8_0 (cached)."""
    from dta_edge.export.gguf_quantize import quantize_gguf
    from dta_edge.export.gguf_writer import write_gguf

    final = work / f"{name}-q8_0.gguf"
    if not final.exists():
        base = write_gguf(model_dir, work / f"{name}-f32.gguf", "f32")
        quantize_gguf(base, final, "q8_0")
        base.unlink()
    return final


def decode_runs(generator, tokens: int, repeats: int):
    """Generations of exactly ``tokens`` greedy tokens (random models rarely stop early)."""
    from dta_edge.backends.base import GenerationRequest, SamplingSettings
    from dta_edge.records import ChatMessage

    request = GenerationRequest(
        messages=(ChatMessage(role="user", content=PROMPT),),
        sampling=SamplingSettings(max_tokens=tokens),
    )
    generator.generate(request)  # warm-up
    return [generator.generate(request)[0] for _ in range(repeats)]


def harness_ratio(generations) -> tuple[float, float, float]:
    """(harness tok/s, llama.cpp eval tok/s, ratio), medians over runs."""
    harness = statistics.median(g.decode_tokens_per_s for g in generations)
    internal = statistics.median(
        g.backend_timings["llama_eval_tokens"] / (g.backend_timings["llama_eval_ms"] / 1000)
        for g in generations
    )
    return harness, internal, harness / internal


def recorded_jetson_tree(root: Path) -> Path:
    """A sysfs INA3221 tree like an Orin's (VDD_IN 5 V x 3 A)."""
    hwmon = root / "1-0040" / "hwmon" / "hwmon1"
    hwmon.mkdir(parents=True, exist_ok=True)
    for channel, label in enumerate(("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"), start=1):
        (hwmon / f"in{channel}_label").write_text(label)
        (hwmon / f"in{channel}_input").write_text("5000")
        (hwmon / f"curr{channel}_input").write_text("3000")
    return root


def meter_ratio(generator, meter, tokens: int, rounds: int) -> tuple[float, float]:
    """Median of (tok/s with the meter polling) / (tok/s without), and an A/A control.

    Rounds alternate which run goes first, so a drift in clock speed cancels; the A/A control
    (no meter in either run) shows the noise floor a ratio should be read against.
    """

    def one() -> float:
        return decode_runs(generator, tokens, 1)[0].decode_tokens_per_s

    def metered() -> float:
        meter.start()
        try:
            return one()
        finally:
            meter.stop()

    ratios, control = [], []
    for index in range(rounds):
        if index % 2:
            with_meter, plain = metered(), one()
            control.append(one() / one())
        else:
            plain, with_meter = one(), metered()
            control.append(one() / one())
        ratios.append(with_meter / plain)
    return statistics.median(ratios), statistics.median(control)


def main() -> None:
    """Measure and print the ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("runs/bench-decode"))
    parser.add_argument("--sizes", nargs="+", default=["tiny", "0.5b"])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    import random_qwen3

    from dta_edge.backends.registry import create_generator
    from dta_edge.meters.registry import create_meter
    from dta_edge.models.tiny import tiny_model

    for size in args.sizes:
        if size == "tiny":
            model_dir = tiny_model().path
        else:
            model_dir = random_qwen3.build(size, args.work / f"random-qwen3-{size}")
        gguf = q8_0_gguf(model_dir, args.work, size)
        generator = create_generator("llama-cpp", str(gguf), {"n_threads": args.threads})
        harness, internal, ratio = harness_ratio(decode_runs(generator, args.tokens, args.repeats))
        mib = gguf.stat().st_size / 2**20
        print(f"[{size} Q8_0, {mib:.0f} MiB] harness decode {harness:.1f} tok/s / "
              f"llama.cpp eval {internal:.1f} tok/s = {ratio:.3f}")  # fmt: skip
        tree = recorded_jetson_tree(args.work / "sysfs-ina3221")
        meters = {
            "jetson INA3221 polling at 20 Hz": ("jetson", {"root": str(tree),
                                                           "poll_interval_s": 0.05}),
            "cpu-time estimator": ("cpu-time", {"tdp_w": 45}),
            "codecarbon, one tracker for the run": ("codecarbon", {}),
            "nvml": ("nvml", {}),
        }  # fmt: skip
        for label, (name, options) in meters.items():
            try:
                meter = create_meter(name, options)
            except Exception as exc:  # noqa: BLE001 - no GPU, no codecarbon: say so, go on
                print(f"[{size}] {label}: not measured here "
                      f"({str(exc).splitlines()[-1].strip()})")  # fmt: skip
                continue
            try:
                ratio, control = meter_ratio(generator, meter, args.tokens, 2 * args.repeats)
            finally:
                meter.close()
            print(f"[{size}] meter overhead, {label}: tok/s ratio {ratio:.3f} "
                  f"(A/A control without a meter {control:.3f})", flush=True)  # fmt: skip
        generator.close()


if __name__ == "__main__":
    main()

"""NVML meter overhead on GPU decode (transformers, bf16), measured in one run on a GPU machine.

Decode tokens/s with each meter window open over tokens/s without, in ABBA order (so drift and
warm-up cancel), against an A/A control (no meter both times) that shows the noise floor. The
counter meter reads twice per window; the polling meter (used on pre-Volta GPUs) reads power on a
thread at the shipped 20 Hz.

    python benchmarks/random_qwen3.py --size 0.5b --out runs/models/random-qwen3-0.5b
    python benchmarks/nvml_overhead.py --model runs/models/random-qwen3-0.5b
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    """Measure and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    import pynvml

    from dta_edge.backends.base import GenerationRequest, SamplingSettings
    from dta_edge.backends.registry import create_generator
    from dta_edge.meters.base import NoMeter, PowerPoller
    from dta_edge.meters.registry import create_meter
    from dta_edge.records import ChatMessage

    generator = create_generator("transformers", args.model, {"device": "cuda"})
    request = GenerationRequest(
        messages=(ChatMessage(role="user", content="Compute the free-space path loss."),),
        sampling=SamplingSettings(max_tokens=args.tokens),
    )
    generator.generate(request)
    polled = create_meter("nvml", {"poll_interval_s": 0.05})
    polled.counters = {name: False for name in polled.counters}  # force the pre-Volta path
    polled.poller = PowerPoller(lambda: polled._watts(list(polled.handles)), 0.05)

    def rate(meter) -> tuple[float, float | None]:
        meter.start()
        generation = generator.generate(request)[0]
        reading = meter.stop()
        per_token = None if reading.joules is None else reading.joules / generation.output_tokens
        return generation.decode_tokens_per_s, per_token

    for name, meter in (("A/A control (no meter)", NoMeter()),
                        ("nvml energy counter", create_meter("nvml")),
                        ("nvml power polling 20 Hz", polled)):  # fmt: skip
        ratios, joules = [], []
        for _ in range(args.rounds):
            a1, _ = rate(NoMeter())
            b1, j1 = rate(meter)
            b2, j2 = rate(meter)
            a2, _ = rate(NoMeter())
            ratios.append((b1 + b2) / (a1 + a2))
            joules += [j for j in (j1, j2) if j is not None]
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
        energy = f"; {statistics.median(joules):.3f} J/token, idle included" if joules else ""
        print(f"{name}: tok/s with / without = {statistics.median(ratios):.3f} "
              f"(rounds {spread}){energy}")  # fmt: skip
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    started, reads = time.perf_counter(), 500
    for _ in range(reads):
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    print(f"one energy-counter read: {(time.perf_counter() - started) / reads * 1e3:.2f} ms")


if __name__ == "__main__":
    main()

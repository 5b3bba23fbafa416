"""How close llama.cpp decodes to this CPU's two ceilings (bandwidth, kernels) at Q8_0, Q4_K_M.

The ceilings are memory bandwidth and the compute rate of llama.cpp's own matrix-vector kernels.

Measures the machine's bandwidth (STREAM copy/triad, as `dta profile measure` does) and the
kernels' GFLOP/s per weight type in cache (meters/compute_ceiling.py, same threads), builds a
random Qwen3-0.6B-shaped checkpoint (bf16, real Qwen3 tokenizer; nothing downloaded), exports it
to GGUF at each quantization, decodes with llama.cpp on every core and prints, per type: bytes read
per decode token (from the GGUF's tensor table, plus the KV cache at the mean context), decode
tokens/s, achieved GB/s and its share of the measured bandwidth, achieved GFLOP/s (2 x matrix
parameters x tokens/s) and its share of the kernels' ceiling for that type mix, and which ceiling
binds (the one allowing fewer tokens/s). A share above 100% would mean a count is wrong. Random
weights decode garbage, which costs the same as sense.

    .venv/bin/python benchmarks/roofline_cpu.py [--work /tmp/roofline] [--tokens 96]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def decode_rate(gguf: Path, prompt: str, tokens: int, threads: int) -> tuple[float, float]:
    """(decode tokens/s after the first token, mean context length) for one greedy generation."""
    from dta_edge.models.gguf_file import load_gguf

    llm = load_gguf(gguf, n_threads=threads, n_ctx=512)
    ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    stamps = []
    for _ in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0):
        stamps.append(time.perf_counter())
        if len(stamps) == tokens:
            break
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return rate, len(ids) + len(stamps) / 2


def main() -> None:
    """Measure, build, export, decode, print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/roofline-cpu"))
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from dta_edge.bench.roofline import gguf_footprint, roofline
    from dta_edge.export.gguf_quantize import quantize_gguf
    from dta_edge.export.gguf_writer import write_gguf
    from dta_edge.meters.bandwidth import measure_bandwidth
    from dta_edge.meters.compute_ceiling import measure_compute
    from dta_edge_testing.random_checkpoint import SHAPES, build_random_checkpoint
    from dta_edge_testing.reference_tokenizers import reference_tokenizer

    bandwidth = measure_bandwidth(array_mib=512, repetitions=5, threads=args.threads)
    print(f"measured bandwidth: copy {bandwidth.copy_gbs:.2f} GB/s, triad "
          f"{bandwidth.triad_gbs:.2f} GB/s ({bandwidth.threads} threads)", flush=True)  # fmt: skip
    kernels = measure_compute(threads=args.threads)
    print(
        "llama.cpp matrix-vector GFLOP/s in cache: "
        + ", ".join(f"{kind} {rate:g}" for kind, rate in kernels.gflops.items()),
        flush=True,
    )
    shape = SHAPES["qwen3-0.6b"]
    model = build_random_checkpoint(args.work / "qwen3-0.6b", shape, reference_tokenizer("qwen3"))
    base = write_gguf(model, args.work / "bf16.gguf", "bf16")
    prompt = "A 20 MHz channel has an SNR of 15 dB. What is its Shannon capacity in Mbit/s?"
    print(f"random Qwen3-0.6B shape: {shape.parameters() / 1e6:.0f}M parameters, tied")
    print(f"{'type':<8}{'bytes/token MB':>16}{'decode tok/s':>14}{'GB/s':>8}{'share':>8}"
          f"{'GFLOP/s':>9}{'ceiling':>9}{'share':>8}{'binds':>9}")  # fmt: skip
    try:
        for quant in ("q8_0", "q4_k_m"):
            gguf = quantize_gguf(base, args.work / f"{quant}.gguf", quant)
            rate, context = decode_rate(gguf, prompt, args.tokens, args.threads)
            footprint = gguf_footprint(gguf)
            roof = roofline(footprint, rate, context, bandwidth.best_gbs,
                            matvec_gflops=kernels.gflops)  # fmt: skip
            print(f"{quant:<8}{roof.decode_bytes_per_token / 1e6:>16.1f}{rate:>14.1f}"
                  f"{roof.decode_bandwidth_gbs:>8.2f}{roof.bandwidth_share:>8.1%}"
                  f"{roof.decode_gflops:>9.1f}{roof.compute_ceiling_gflops:>9.1f}"
                  f"{roof.compute_share:>8.1%}{roof.roofline_binding:>9}", flush=True)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()

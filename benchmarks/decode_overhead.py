"""Harness overhead on decode, measured in one run: tokens/s as dta bench sees them vs llama.cpp's.

1. Harness decode tokens/s (output tokens after the first / time after the first, wall clock,
   Python loop included) divided by llama.cpp's own eval rate (llama_perf_context n_eval /
   t_eval) on the same GGUF Q8_0, for the tiny model and a random-weight Qwen3 of ~0.45B
   parameters, where decode rather than Python dominates. Target: >= 0.97 on the 0.5B model.
   The same on the other two in-process backends, on the same random Qwen3: ONNX Runtime GenAI
   (our backend's decode tok/s / a plain ``og.Generator`` loop on the same folder and model
   object: append the prompt, ``generate_next_token`` until the budget) and transformers (ours
   / ``model.generate`` with the same greedy settings and KV cache, timed from its first new
   token, as a do-nothing streamer sees it, to its return). Runs alternate ours and theirs;
   medians. Target: >= 0.99 each.
2. Meter sampling overhead: decode tokens/s with a meter running (the Jetson INA3221 reader on a
   recorded sysfs tree at 20 Hz, the cpu-time estimator, CodeCarbon with one tracker for the
   whole run; NVML too where a GPU is present) over tokens/s with
   no meter, interleaved runs alternating which goes first, median ratio, printed beside an A/A
   control (no meter in either run) that shows the noise floor. Target: >= 0.99.

    .venv/bin/python benchmarks/decode_overhead.py [--work DIR] [--sizes tiny 0.5b] \
        [--backends llama-cpp onnx transformers]
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


def request_for(tokens: int):
    """The greedy request every backend is timed on."""
    from dta_edge.backends.base import GenerationRequest, SamplingSettings
    from dta_edge.records import ChatMessage

    return GenerationRequest(
        messages=(ChatMessage(role="user", content=PROMPT),),
        sampling=SamplingSettings(max_tokens=tokens),
    )


def prompt_text(generator) -> str:
    """The prompt exactly as our backend renders it (so both loops see the same tokens)."""
    from dta_edge.models.chat import render_chat

    request = request_for(1)
    return render_chat(generator.compiled_template(), request.messages, thinking=False)


def interleaved(ours, theirs, repeats: int) -> tuple[float, float, float]:
    """Medians of ``ours()`` and ``theirs()`` (tok/s), alternating which runs first.

    Also an A/A control: the median ratio of two back-to-back ``theirs()`` runs (the noise floor).
    """
    mine, other, control = [], [], []
    ours(), theirs()  # warm-up
    for index in range(repeats):
        if index % 2:
            other.append(theirs())
            mine.append(ours())
        else:
            mine.append(ours())
            other.append(theirs())
        control.append(theirs() / theirs())
    return statistics.median(mine), statistics.median(other), statistics.median(control)


def ours_rate(generator, tokens: int) -> float:
    """Our backend's decode tok/s on one generation (it must run the whole budget)."""
    (generation,) = generator.generate(request_for(tokens))
    if generation.output_tokens != tokens:
        raise RuntimeError(f"stopped after {generation.output_tokens} of {tokens} tokens")
    return generation.decode_tokens_per_s


def onnx_ratio(folder: Path, tokens: int, repeats: int) -> tuple[float, float, float]:
    """(ours tok/s, onnxruntime_genai's own loop tok/s, A/A control) on one GenAI folder."""
    import time

    import onnxruntime_genai as og

    from dta_edge.backends.registry import create_generator

    generator = create_generator("onnx", str(folder), {})
    ids = generator.tokenizer.encode(prompt_text(generator), add_special_tokens=False).ids

    def theirs() -> float:
        params = og.GeneratorParams(generator.model)
        params.set_search_options(max_length=len(ids) + tokens, do_sample=False)
        loop = og.Generator(generator.model, params)
        loop.append_tokens(list(ids))
        loop.generate_next_token()
        first = time.perf_counter()
        for _ in range(tokens - 1):
            loop.generate_next_token()
        return (tokens - 1) / (time.perf_counter() - first)

    try:
        return interleaved(lambda: ours_rate(generator, tokens), theirs, repeats)
    finally:
        generator.close()


def transformers_ratio(
    model_dir: Path, tokens: int, repeats: int, threads: int
) -> tuple[float, float, float]:
    """(ours tok/s, model.generate tok/s, A/A control): same model object, greedy, KV cache."""
    import time

    import torch

    from dta_edge.backends.registry import create_generator
    from dta_edge.backends.transformers_backend import FirstTokenClock

    generator = create_generator("transformers", str(model_dir), {"threads": threads,
                                                                  "device": "cpu"})  # fmt: skip
    ids = generator.tokenizer(prompt_text(generator), add_special_tokens=False,
                              return_tensors="pt").input_ids  # fmt: skip

    def theirs() -> float:
        clock = FirstTokenClock()  # the backend's own do-nothing streamer
        with torch.no_grad():
            generator.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                min_new_tokens=tokens, do_sample=False, use_cache=True,
                pad_token_id=generator.end_ids[0], streamer=clock,
            )  # fmt: skip
        return (tokens - 1) / (time.perf_counter() - clock.first_token_at)

    try:
        return interleaved(lambda: ours_rate(generator, tokens), theirs, repeats)
    finally:
        generator.close()


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


def measure_other_backends(model_dir: Path, size: str, args) -> None:
    """Print the ONNX GenAI and transformers ratios for one random model."""
    if "onnx" in args.backends:
        from dta_edge.export.onnx_export import build_onnx

        folder = args.work / f"{size}-onnx-int8"
        if not (folder / "genai_config.json").exists():
            build_onnx(model_dir, folder, "int8")
        mine, theirs, control = onnx_ratio(folder, args.tokens, args.repeats)
        print(f"[{size} ONNX int8] harness decode {mine:.1f} tok/s / onnxruntime_genai loop "
              f"{theirs:.1f} tok/s = {mine / theirs:.3f} (A/A control {control:.3f})",
              flush=True)  # fmt: skip
    if "transformers" in args.backends:
        mine, theirs, control = transformers_ratio(model_dir, args.tokens, args.repeats,
                                                   args.threads)  # fmt: skip
        print(f"[{size} transformers fp32] harness decode {mine:.1f} tok/s / model.generate "
              f"{theirs:.1f} tok/s = {mine / theirs:.3f} (A/A control {control:.3f})",
              flush=True)  # fmt: skip


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
    parser.add_argument(
        "--backends", nargs="+", default=["llama-cpp", "onnx", "transformers"],
        choices=["llama-cpp", "onnx", "transformers"],
        help="onnx and transformers are measured on sizes other than tiny only",
    )  # fmt: skip
    parser.add_argument("--no-meters", action="store_true", help="skip the meter overheads")
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
        if size != "tiny":
            measure_other_backends(model_dir, size, args)
        if "llama-cpp" not in args.backends:
            continue
        gguf = q8_0_gguf(model_dir, args.work, size)
        generator = create_generator("llama-cpp", str(gguf), {"n_threads": args.threads})
        harness, internal, ratio = harness_ratio(decode_runs(generator, args.tokens, args.repeats))
        mib = gguf.stat().st_size / 2**20
        print(f"[{size} Q8_0, {mib:.0f} MiB] harness decode {harness:.1f} tok/s / "
              f"llama.cpp eval {internal:.1f} tok/s = {ratio:.3f}")  # fmt: skip
        if args.no_meters:
            generator.close()
            continue
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

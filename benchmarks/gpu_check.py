"""The GPU check's measurements; run through benchmarks/gpu_check.sh, which checks first.

Each step's figures (or its error) go into one JSON; a failed step makes the exit status 1, so a
partial check is never mistaken for a complete one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parent.parent
SYSTEM = """  - name: {name}
    backend: {backend}
    model: {model}
    options: {options}
    quantization: {quant}
    sampling: {{max_tokens: 128}}
"""


def suite_file(path: Path, systems: list[dict]) -> Path:
    """A bench suite of 16 generated problems over ``systems`` (NVML, 3 s idle baseline)."""
    body = "".join(SYSTEM.format(**s) for s in systems)
    path.write_text("kind: bench-suite\nname: gpu-check\nproblems:\n  generate: {n: 16, seed: 3}\n"
                    f"warmup: 2\nidle_seconds: 3\nsystems:\n{body}")  # fmt: skip
    return path


def rows(summary_path: Path) -> dict:
    """The figures of each system in a summary.json that the check reports."""
    keys = ("decode_tokens_per_s_median", "ttft_median_s", "joules_per_output_token", "meter",
            "energy_estimated", "device", "offloaded_layers", "decode_bandwidth_gbs",
            "bandwidth_share", "memory_bandwidth_gbs")  # fmt: skip
    systems = json.loads(summary_path.read_text())["systems"]
    return {s["system"]: {k: s.get(k) for k in keys} for s in systems}


def bench(python: str, suite: Path, out: Path) -> dict:
    """`dta bench` with the H100 profile in ``python``'s environment; the summary's figures."""
    command = [python, "-m", "dta_edge", "bench", "--suite", str(suite), "--profile",
               str(REPO / "profiles/server-h100.yaml"), "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=True, cwd=REPO)
    return rows(out / "summary.json")


def step_gguf_and_transformers(model: Path, work: Path) -> dict:
    """NVML bench: transformers bf16 and llama.cpp CUDA at Q8_0 and Q4_K_M."""
    from dta_edge.export.gguf_quantize import quantize_gguf
    from dta_edge.export.gguf_writer import write_gguf

    base = write_gguf(model, work / "bf16.gguf", "bf16")
    systems = [{"name": "hf-bf16", "backend": "transformers", "model": model,
                "options": "{device: cuda, dtype: bfloat16}", "quant": "bf16"}]  # fmt: skip
    for quant in ("q8_0", "q4_k_m"):
        gguf = quantize_gguf(base, work / f"{quant}.gguf", quant)
        systems.append({"name": f"llama-cpp-{quant}", "backend": "llama-cpp", "model": gguf,
                        "options": "{n_gpu_layers: -1}", "quant": quant})  # fmt: skip
    return bench(sys.executable, suite_file(work / "suite.yaml", systems), work / "bench")


def step_vllm(model: Path, work: Path, venv: Path) -> dict:
    """The in-process vllm backend, then `vllm serve` reached by the openai backend."""
    python = str(venv / "bin" / "python")
    inproc = suite_file(
        work / "vllm.yaml",
        [
            {
                "name": "vllm-inprocess",
                "backend": "vllm",
                "model": model,
                "quant": "bf16",
                "options": "{gpu_memory_utilization: 0.5}",
            }
        ],
    )
    figures = bench(python, inproc, work / "vllm-inprocess")  # fmt: skip
    port = 8765
    server = subprocess.Popen([str(venv / "bin" / "vllm"), "serve", str(model), "--port",
                               str(port), "--gpu-memory-utilization", "0.5"])  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("vllm serve did not come up within 240 s") from None
                time.sleep(2)
        served = suite_file(work / "served.yaml", [{
            "name": "vllm-serve-openai", "backend": "openai", "model": model, "quant": "bf16",
            "options": f"{{base_url: 'http://127.0.0.1:{port}/v1', api: completions, "
                       f"chat_template: {model}, concurrency: 4}}"}])  # fmt: skip
        figures.update(bench(sys.executable, served, work / "vllm-serve"))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return figures


def step_onnx(model: Path, work: Path) -> dict:
    """laptop-gpu-onnx-int4 exported and its parity measured on the CUDA provider."""
    from dta_edge.config import load_config
    from dta_edge.export.runner import export_model
    from dta_edge.export.targets import ExportTarget

    target = load_config(REPO / "export" / "laptop-gpu-onnx-int4.yaml", ExportTarget)
    manifest = export_model(target, model, work / "onnx-int4")
    if manifest.parity_unavailable:
        raise RuntimeError(f"parity not measured: {manifest.parity_unavailable}")
    return {"parity": manifest.parity, "seconds": manifest.seconds}


def step_train(model: Path, work: Path) -> dict:
    """bf16 LoRA training speed on the random model (CUDA)."""
    from dta_edge.curation.reference_teacher import styled_solution
    from dta_edge.records import ChatMessage, SFTExample
    from dta_edge.storage import write_jsonl
    from dta_edge.tasks.generator import ProblemsConfig, generate_problems
    from dta_edge.train.recipe import TrainRecipe
    from dta_edge.train.sft import train

    data = work / "sft.jsonl"
    write_jsonl(data, [SFTExample(id=f"e{p.id}", problem_id=p.id, set_name="dta", messages=(
        ChatMessage(role="user", content=p.question),
        ChatMessage(role="assistant", content=styled_solution(p, "narrative"))))
        for p in generate_problems(ProblemsConfig(n=256, seed=4))])  # fmt: skip
    recipe = TrainRecipe(name="gpu-check", base_model=str(model), epochs=1, batch_size=16,
                         precision="bf16", eval_fraction=0.0, save_steps=1000)  # fmt: skip
    summary = train(recipe, data, work / "train", quiet=True)
    return {"tokens_per_s": summary.tokens_per_s, "steps": summary.steps,
            "seconds": summary.seconds}  # fmt: skip


def main() -> None:
    """Run every step, write the JSON, exit 1 if any step failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vllm-venv", type=Path, required=True)
    args = parser.parse_args()
    import random_qwen3

    query = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]
    device = subprocess.run(query, capture_output=True, text=True).stdout.strip()
    report: dict = {"device": device, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "steps": {}, "failed": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        work = Path(folder)
        model = random_qwen3.build("0.5b", work / "random-qwen3-0.5b")
        steps = {"bench transformers + llama.cpp": lambda: step_gguf_and_transformers(model, work),
                 "vllm": lambda: step_vllm(model, work, args.vllm_venv.resolve()),
                 "onnx cuda int4": lambda: step_onnx(model, work),
                 "train bf16 lora": lambda: step_train(model, work)}  # fmt: skip
        for name, run in steps.items():
            started = time.perf_counter()
            try:
                report["steps"][name] = run()
            except Exception as exc:  # noqa: BLE001 - recorded, and the exit status says so
                report["steps"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                report["failed"].append(name)
            report["steps"][name]["wall_s"] = round(time.perf_counter() - started, 1)
            args.out.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))
    sys.exit(1 if report["failed"] else 0)


if __name__ == "__main__":
    main()

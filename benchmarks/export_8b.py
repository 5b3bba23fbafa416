"""An 8B checkpoint exported on a 24 GiB machine: time and peak memory per step, ours vs upstream.

Builds a random Qwen3-8B-shaped checkpoint (bf16, about 16 GB in 4 shards, the real Qwen3
tokenizer rebuilt from llama-cpp-python's sdist; nothing downloaded from a hub), exports it with
`dta export` to Q4_K_M and Q8_0 (quick parity), then converts the same checkpoint with llama.cpp's
own convert_hf_to_gguf.py (--outtype bf16) and quantizes with llama.cpp's quantizer, and prints
time and peak memory per step for both and whether every quantized tensor is byte-identical.

Peak memory is sampled from /proc: RSS (resident, including llama.cpp's mapped file pages, which
the kernel drops under pressure) and its anonymous part (what can exhaust the machine). Every
file it writes (about 60 GB at the peak) is deleted at the end unless --keep.

    .venv/bin/python benchmarks/export_8b.py --work /tmp/bench-8b [--shape qwen3-8b]

With --adapter, a random rank-16 LoRA adapter on all seven projections of every layer is built
beside the checkpoint and both routes export base + adapter: ours (`dta export --adapter`, the
merge streamed tensor by tensor into the bf16 GGUF, merge parity one layer at a time) and
upstream's (peft `merge_and_unload` on the base loaded in bf16, `save_pretrained`, then the same
converter and quantizer). Upstream's route is run only where its estimated peak fits in the
memory available; otherwise its estimate is printed instead. The per-tensor distance of our
merge from an fp32 reference merge is read from the manifest.

    .venv/bin/python benchmarks/export_8b.py --work /tmp/bench-8b --adapter
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: dta_edge_testing lives there
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))

TARGETS = {"q4_k_m": "jetson-orin-gguf-q4_k_m", "q8_0": "cpu-gguf-q8_0"}
BUILD = """
import sys
from pathlib import Path
from dta_edge_testing.random_checkpoint import SHAPES, build_random_checkpoint
from dta_edge_testing.reference_tokenizers import reference_tokenizer
shape = SHAPES[sys.argv[1]]
name = "qwen3" if shape.architecture == "qwen3" else "llama3"
build_random_checkpoint(Path(sys.argv[2]), shape, reference_tokenizer(name))
"""
ADAPTER = """
import json, sys
from pathlib import Path
import numpy as np
from safetensors.numpy import save_file
config = json.loads((Path(sys.argv[1]) / "config.json").read_text())
out, rank = Path(sys.argv[2]), 16
hidden, inter = config["hidden_size"], config["intermediate_size"]
heads, kv, head_dim = (config["num_attention_heads"], config["num_key_value_heads"],
                       config.get("head_dim") or hidden // config["num_attention_heads"])
shapes = {"self_attn.q_proj": (heads * head_dim, hidden),
          "self_attn.k_proj": (kv * head_dim, hidden),
          "self_attn.v_proj": (kv * head_dim, hidden),
          "self_attn.o_proj": (hidden, heads * head_dim),
          "mlp.gate_proj": (inter, hidden), "mlp.up_proj": (inter, hidden),
          "mlp.down_proj": (hidden, inter)}
rng, tensors = np.random.default_rng(0), {}
for layer in range(config["num_hidden_layers"]):
    for module, (rows, cols) in shapes.items():
        key = f"base_model.model.model.layers.{layer}.{module}"
        a = rng.standard_normal((rank, cols)) / cols ** 0.5
        tensors[f"{key}.lora_A.weight"] = a.astype(np.float32)
        tensors[f"{key}.lora_B.weight"] = (rng.standard_normal((rows, rank)) * 0.01).astype(
            np.float32)
out.mkdir(parents=True, exist_ok=True)
save_file(tensors, str(out / "adapter_model.safetensors"))
(out / "adapter_config.json").write_text(json.dumps({
    "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank,
    "lora_dropout": 0.0, "bias": "none", "base_model_name_or_path": sys.argv[1],
    "target_modules": sorted({m.split(".")[1] for m in shapes})}, indent=1))
"""
PEFT_MERGE = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
base = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.bfloat16)
merged = PeftModel.from_pretrained(base, sys.argv[2]).merge_and_unload()
merged.save_pretrained(sys.argv[3])
"""
QUANTIZE = """
import ctypes, sys, llama_cpp
from dta_edge.export.gguf_quantize import QUANT_TYPES
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = getattr(llama_cpp, QUANT_TYPES[sys.argv[3]])
status = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(),
                                        ctypes.byref(params))
sys.exit(status)
"""


def run_measured(command: list[str]) -> dict:
    """Run ``command``; its seconds, peak RSS and peak anonymous memory (MiB), sampled."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks = {"rss": 0.0, "anon": 0.0}

    def sample() -> None:
        from dta_edge.process_memory import memory_mib

        while process.poll() is None:
            reading = memory_mib(process.pid)
            if reading is not None:
                peaks["rss"], peaks["anon"] = (
                    max(peaks["rss"], reading[0]),
                    max(peaks["anon"], reading[1]),
                )
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0].decode(errors="replace")
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return {"seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mib": round(peaks["rss"]), "peak_anon_mib": round(peaks["anon"])}  # fmt: skip


def tensor_digests(path: Path) -> dict[str, tuple[int, tuple[int, ...], str]]:
    """Per tensor: ggml type, shape and sha256 of its bytes."""
    from dta_edge.models.gguf_header import read_gguf_header

    digests = {}
    with path.open("rb") as handle:
        for tensor in read_gguf_header(path, keep=frozenset()).tensors:
            handle.seek(tensor.offset)
            digest = hashlib.sha256(handle.read(tensor.nbytes)).hexdigest()
            digests[tensor.name] = (tensor.ggml_type, tensor.shape, digest)
    return digests


def largest_tensor_bytes(model: Path) -> int:
    """Bytes of the checkpoint's biggest tensor, as stored."""
    from dta_edge.models.safetensors_stream import iter_index, weight_files

    return max(entry.nbytes for _, entry in iter_index(weight_files(model)))


def ours(model: Path, work: Path, quant: str, adapter: Path | None = None) -> tuple[dict, dict]:
    """`dta export` in its own process: the manifest's step costs and the output's digests."""
    out = work / f"ours-{quant}"
    extra = ["--adapter", str(adapter)] if adapter else []
    whole = run_measured([sys.executable, "-m", "dta_edge", "export", "--target", TARGETS[quant],
                          "--model", str(model), "--out", str(out), "--overwrite",
                          *extra])  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    steps = {name: cost for name, cost in manifest["steps"].items()}
    steps["whole process"] = whole
    gguf = out / manifest["files"][0]["path"]
    digests = tensor_digests(gguf)
    report = {"steps": steps, "parity_mode": manifest["parity_mode"], "parity": manifest["parity"],
              "bytes": gguf.stat().st_size}  # fmt: skip
    diffs = manifest.get("merge_tensor_max_abs_diff") or {}
    if diffs:
        report["merge_vs_fp32_reference"] = {
            "tensors": len(diffs),
            "max": max(diffs.values()),
            "median": sorted(diffs.values())[len(diffs) // 2],
        }
    shutil.rmtree(out)
    return report, digests


def peft_route_estimate_mib(model: Path, adapter: Path) -> dict:
    """Peak memory of upstream's merge: the base in bf16 (the fp32 load dta used before: 2x)."""
    weights = sum(p.stat().st_size for p in model.glob("*.safetensors"))
    lora = sum(p.stat().st_size for p in adapter.glob("*.safetensors"))
    bf16 = (weights + 2 * lora) * 1.1 / 2**20  # peft wraps every module; some working memory
    return {"bf16 base (peft merge)": round(bf16), "fp32 base (dta before)": round(2 * bf16)}


def _available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def upstream(
    model: Path, work: Path, quants: list[str], adapter: Path | None = None
) -> tuple[dict, dict]:
    """[peft merge,] convert_hf_to_gguf.py --outtype bf16, then llama.cpp's quantizer."""
    from dta_edge_testing.reference_tokenizers import llama_cpp_sources

    converter = llama_cpp_sources() / "convert_hf_to_gguf.py"
    bf16 = work / "upstream-bf16.gguf"
    steps: dict = {}
    source = model
    if adapter is not None:
        estimate = peft_route_estimate_mib(model, adapter)
        steps["merge (estimate)"] = {"seconds": None, "peak_rss_mib": estimate,
                                     "peak_anon_mib": None}  # fmt: skip
        if estimate["bf16 base (peft merge)"] > 0.9 * _available_mib():
            return steps, {}  # cannot run here; the estimate stands for it
        source = work / "upstream-merged"
        steps["merge"] = run_measured([sys.executable, "-c", PEFT_MERGE, str(model),
                                       str(adapter), str(source)])  # fmt: skip
        for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            if (model / name).exists():
                shutil.copy2(model / name, source / name)
    steps["write"] = run_measured([sys.executable, str(converter), str(source),
                                   "--outtype", "bf16", "--outfile", str(bf16)])  # fmt: skip
    digests = {}
    for quant in quants:
        out = work / f"upstream-{quant}.gguf"
        steps[f"quantize {quant}"] = run_measured(
            [sys.executable, "-c", QUANTIZE, str(bf16), str(out), quant]
        )
        digests[quant] = tensor_digests(out)
        out.unlink()
    bf16.unlink()
    if source != model:
        shutil.rmtree(source)
    return steps, digests


def main() -> None:
    """Build, export both ways, compare, print, clean up."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, required=True, help="Scratch folder (~60 GB).")
    parser.add_argument("--shape", default="qwen3-8b", help="A shape of random_checkpoint.SHAPES.")
    parser.add_argument("--quants", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--keep", action="store_true", help="Keep the checkpoint afterwards.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument(
        "--adapter",
        action="store_true",
        help="Export base + a random rank-16 all-projection LoRA adapter.",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.work / f"random-{args.shape}"
    results: dict = {"shape": args.shape, "machine_memory_gib": round(
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}  # fmt: skip
    try:
        if not (model / "config.json").exists():
            results["build"] = run_measured([sys.executable, "-c", BUILD, args.shape, str(model)])
        size = sum(p.stat().st_size for p in model.glob("*.safetensors"))
        largest = largest_tensor_bytes(model)
        results.update(checkpoint_gib=round(size / 2**30, 2),
                       largest_tensor_mib=round(largest / 2**20),
                       bound_mib=round((1.5 * largest + 2 * 2**30) / 2**20))  # fmt: skip
        adapter = None
        if args.adapter:
            adapter = args.work / f"adapter-{args.shape}"
            results["adapter build"] = run_measured([sys.executable, "-c", ADAPTER, str(model),
                                                     str(adapter)])  # fmt: skip
        print(json.dumps(results, indent=1), flush=True)
        mine = {}
        for quant in args.quants:
            results[f"ours {quant}"], mine[quant] = ours(model, args.work, quant, adapter)
            print(json.dumps({f"ours {quant}": results[f"ours {quant}"]}, indent=1), flush=True)
        results["upstream"], theirs = upstream(model, args.work, args.quants, adapter)
        print(json.dumps({"upstream": results["upstream"]}, indent=1), flush=True)
        # peft merges in the base's dtype; ours in fp32 then rounds: compared, not assumed
        results["identical_tensors"] = {q: mine[q] == theirs.get(q) for q in args.quants}
    finally:
        if not args.keep:
            shutil.rmtree(model, ignore_errors=True)
            shutil.rmtree(args.work / f"adapter-{args.shape}", ignore_errors=True)
    if args.json:  # first: the figures outlive a failure in the table below
        args.json.write_text(json.dumps(results, indent=1))
    _print_table(results, args.quants)


def _print_table(results: dict, quants: list[str]) -> None:
    bound = results["bound_mib"]
    print(f"\n{results['shape']}: {results['checkpoint_gib']} GiB bf16, largest tensor "
          f"{results['largest_tensor_mib']} MiB; bound 1.5 x largest + 2 GiB = {bound} MiB; "
          f"machine {results['machine_memory_gib']} GiB")  # fmt: skip
    print(f"{'step':<28}{'seconds':>9}{'peak RSS MiB':>14}{'peak anon MiB':>15}")
    rows = [(f"ours {q} {step}", cost) for q in quants
            for step, cost in results[f"ours {q}"]["steps"].items()]  # fmt: skip
    upstream_steps = results["upstream"]
    estimate = upstream_steps.get("merge (estimate)", {}).get("peak_rss_mib")
    rows += [(f"upstream {step}", cost) for step, cost in upstream_steps.items()
             if step != "merge (estimate)"]  # fmt: skip
    for name, cost in rows:
        print(f"{name:<28}{cost['seconds'] or '-':>9}{cost['peak_rss_mib'] or '-':>14}"
              f"{cost['peak_anon_mib'] or '-':>15}")  # fmt: skip
    if estimate:
        ran = "merge" in upstream_steps
        print("upstream merge, estimated peak MiB: "
              + ", ".join(f"{k} {v}" for k, v in estimate.items())
              + ("" if ran else " (over the memory available: not run here)"))  # fmt: skip
    for quant in quants:
        _print_totals(results, quant)
    for quant in quants:
        mine = results[f"ours {quant}"]
        print(f"{quant}: tensors identical to upstream: {results['identical_tensors'][quant]}; "
              f"parity ({mine['parity_mode']}) {mine['parity']}")  # fmt: skip
        if "merge_vs_fp32_reference" in mine:
            print(
                f"{quant}: merged tensors vs an fp32 reference merge: "
                f"{mine['merge_vs_fp32_reference']}"
            )


def _print_totals(results: dict, quant: str) -> None:
    """Our whole export against upstream's merge + convert + quantize, with and without proof."""
    steps = results[f"ours {quant}"]["steps"]
    upstream_steps = results["upstream"]
    if f"quantize {quant}" not in upstream_steps:
        return
    theirs = sum(upstream_steps[s]["seconds"] for s in ("merge", "write") if s in upstream_steps)
    theirs += upstream_steps[f"quantize {quant}"]["seconds"]
    whole = steps["whole process"]["seconds"]
    proof = sum(steps[s]["seconds"] for s in ("parity", "merge_parity") if s in steps)
    print(
        f"{quant}: ours {whole:.0f} s ({proof:.0f} s of it parity) vs upstream {theirs:.0f} s "
        f"(no parity): {whole / theirs:.2f}x, {(whole - proof) / theirs:.2f}x without parity"
    )


if __name__ == "__main__":
    main()

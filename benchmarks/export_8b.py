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

TARGETS = {"q4_k_m": "jetson-orin-gguf-q4_k_m", "q8_0": "cpu-gguf-q8_0"}
BUILD = """
import sys
from pathlib import Path
from dta_edge.models.random_checkpoint import SHAPES, build_random_checkpoint
from dta_edge.models.reference_tokenizers import reference_tokenizer
shape = SHAPES[sys.argv[1]]
name = "qwen3" if shape.architecture == "qwen3" else "llama3"
build_random_checkpoint(Path(sys.argv[2]), shape, reference_tokenizer(name))
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
        from dta_edge.export.step_cost import memory_mib

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


def ours(model: Path, work: Path, quant: str) -> tuple[dict, dict]:
    """`dta export` in its own process: the manifest's step costs and the output's digests."""
    out = work / f"ours-{quant}"
    whole = run_measured([sys.executable, "-m", "dta_edge", "export", "--target", TARGETS[quant],
                          "--model", str(model), "--out", str(out), "--overwrite"])  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    steps = {name: cost for name, cost in manifest["steps"].items()}
    steps["whole process"] = whole
    gguf = out / manifest["files"][0]["path"]
    digests = tensor_digests(gguf)
    report = {"steps": steps, "parity_mode": manifest["parity_mode"], "parity": manifest["parity"],
              "bytes": gguf.stat().st_size}  # fmt: skip
    shutil.rmtree(out)
    return report, digests


def upstream(model: Path, work: Path, quants: list[str]) -> tuple[dict, dict]:
    """convert_hf_to_gguf.py --outtype bf16, then llama.cpp's quantizer, each in its process."""
    from dta_edge.models.reference_tokenizers import llama_cpp_sources

    converter = llama_cpp_sources() / "convert_hf_to_gguf.py"
    bf16 = work / "upstream-bf16.gguf"
    steps = {"write": run_measured([sys.executable, str(converter), str(model),
                                    "--outtype", "bf16", "--outfile", str(bf16)])}  # fmt: skip
    digests = {}
    for quant in quants:
        out = work / f"upstream-{quant}.gguf"
        steps[f"quantize {quant}"] = run_measured(
            [sys.executable, "-c", QUANTIZE, str(bf16), str(out), quant]
        )
        digests[quant] = tensor_digests(out)
        out.unlink()
    bf16.unlink()
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
        print(json.dumps(results, indent=1), flush=True)
        mine = {}
        for quant in args.quants:
            results[f"ours {quant}"], mine[quant] = ours(model, args.work, quant)
            print(json.dumps({f"ours {quant}": results[f"ours {quant}"]}, indent=1), flush=True)
        results["upstream"], theirs = upstream(model, args.work, args.quants)
        print(json.dumps({"upstream": results["upstream"]}, indent=1), flush=True)
        results["identical_tensors"] = {q: mine[q] == theirs[q] for q in args.quants}
    finally:
        if not args.keep:
            shutil.rmtree(model, ignore_errors=True)
    _print_table(results, args.quants)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def _print_table(results: dict, quants: list[str]) -> None:
    bound = results["bound_mib"]
    print(f"\n{results['shape']}: {results['checkpoint_gib']} GiB bf16, largest tensor "
          f"{results['largest_tensor_mib']} MiB; bound 1.5 x largest + 2 GiB = {bound} MiB; "
          f"machine {results['machine_memory_gib']} GiB")  # fmt: skip
    print(f"{'step':<28}{'seconds':>9}{'peak RSS MiB':>14}{'peak anon MiB':>15}")
    rows = [(f"ours {q} {step}", cost) for q in quants
            for step, cost in results[f"ours {q}"]["steps"].items()]  # fmt: skip
    rows += [(f"upstream {step}", cost) for step, cost in results["upstream"].items()]
    for name, cost in rows:
        print(f"{name:<28}{cost['seconds']:>9}{cost['peak_rss_mib'] or '-':>14}"
              f"{cost['peak_anon_mib'] or '-':>15}")  # fmt: skip
    for quant in quants:
        print(f"{quant}: tensors identical to upstream: {results['identical_tensors'][quant]}; "
              f"parity ({results[f'ours {quant}']['parity_mode']}) "
              f"{results[f'ours {quant}']['parity']}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Peak memory and time of GGUF conversion: the tiny model and a ~500 MB random-weight Qwen3.

Not a test: it prints measurements. The writer streams one tensor at a time, so peak RSS should
stay within 1.5 x the largest tensor + 300 MB whatever the model size.

With --upstream, llama.cpp's own convert_hf_to_gguf.py (from the llama-cpp-python source
distribution matching the installed version, fetched with `pip download --no-binary`, which pip's
cache serves offline once fetched) converts the same model: the script checks that every tensor is
identical (name, shape, type, bytes) and prints the time ratio ours / upstream. For an 8B
checkpoint with a real tokenizer, and the quantizer too, see benchmarks/export_8b.py.

    .venv/bin/python benchmarks/export_memory.py [--work DIR] [--size tiny|500mb] [--upstream]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: dta_edge_testing lives there
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))

OURS = """
import sys
from pathlib import Path
from dta_edge.export.gguf_writer import write_gguf
write_gguf(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
"""
# Upstream picks the vocabulary by hashing known tokenizers and needs sentencepiece for Qwen2's
# first attempt; the stand-in tokenizer is known to neither, so both are pinned to what a Qwen3
# checkpoint resolves to. Only the vocabulary is affected, and tensors are what gets compared.
UPSTREAM = """
import runpy, sys
llama_cpp_dir = sys.argv.pop(1)
sys.path[:0] = [llama_cpp_dir + "/gguf-py", llama_cpp_dir]
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
def no_sentencepiece(self, *args, **kwargs):
    raise FileNotFoundError("tokenizer.model")
base.TextModel._set_vocab_sentencepiece = no_sentencepiece
sys.argv = [llama_cpp_dir + "/convert_hf_to_gguf.py", *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
PEAK = """
import resource
print("PEAK_RSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build_random_qwen3(folder: Path) -> Path:
    """A Qwen3 with ~534 MB of fp32 weights (random), built locally once."""
    if (folder / "model.safetensors").exists():
        return folder
    import shutil

    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from dta_edge.models.tiny import tiny_model

    tiny = tiny_model().path
    config = Qwen3Config(
        vocab_size=32768, hidden_size=1024, intermediate_size=4096, num_hidden_layers=6,
        num_attention_heads=16, num_key_value_heads=8, head_dim=64, tie_word_embeddings=False,
        max_position_embeddings=4096,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(config)
    model.save_pretrained(folder)
    # The tiny model's tokenizer stands in; token ids beyond it become [PAD] entries in the GGUF.
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tiny / name, folder / name)
    return folder


def largest_tensor_bytes(folder: Path) -> int:
    """Size in bytes of the biggest tensor, read from the safetensors header."""
    header_bytes = 0
    with (folder / "model.safetensors").open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    for name, meta in header.items():
        if name != "__metadata__":
            start, end = meta["data_offsets"]
            header_bytes = max(header_bytes, end - start)
    return header_bytes


def measure(script: str, *args: str) -> tuple[float, float]:
    """Run a conversion in a fresh process; return (seconds, peak RSS MiB of that process)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script + PEAK, *args], check=True, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    peak_line = [line for line in result.stdout.splitlines() if line.startswith("PEAK_RSS_KIB")]
    return seconds, int(peak_line[-1].split()[1]) / 1024


def tensor_differences(ours: Path, upstream: Path) -> list[str]:
    """Tensors whose name, shape, type or bytes differ between two GGUF files."""
    import gguf

    mine = {t.name: t for t in gguf.GGUFReader(ours).tensors}
    theirs = {t.name: t for t in gguf.GGUFReader(upstream).tensors}
    problems = [f"{name}: only in one file" for name in sorted(set(mine) ^ set(theirs))]
    for name in sorted(set(mine) & set(theirs)):
        a, b = mine[name], theirs[name]
        if a.tensor_type != b.tensor_type or list(a.shape) != list(b.shape):
            problems.append(f"{name}: {a.tensor_type.name}{list(a.shape)} vs "
                            f"{b.tensor_type.name}{list(b.shape)}")  # fmt: skip
        elif a.data.tobytes() != b.data.tobytes():
            problems.append(f"{name}: bytes differ")
    return problems


def main() -> None:
    """Measure one model size and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("runs/bench-export-memory"))
    parser.add_argument("--size", choices=["tiny", "500mb"], default="500mb")
    parser.add_argument(
        "--upstream", action="store_true", help="also run llama.cpp's convert_hf_to_gguf.py"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.size == "tiny":
        from dta_edge.models.tiny import tiny_model

        model = tiny_model().path
    else:
        # Built in a child: Linux carries a process's resident size into the peak RSS of the
        # children it forks, so this process must stay small while it measures them.
        model = args.work / "random-qwen3-500mb"
        build = "import sys; sys.path.insert(0, sys.argv[1]); import export_memory as m; "
        build += "m.build_random_qwen3(m.Path(sys.argv[2]))"
        subprocess.run(
            [sys.executable, "-c", build, str(Path(__file__).parent), str(model)], check=True
        )
    weights = sum(p.stat().st_size for p in model.glob("*.safetensors"))
    largest = largest_tensor_bytes(model)
    ours = args.work / f"{args.size}-f16.gguf"
    seconds, peak = measure(OURS, str(model), str(ours), "f16")
    bound = 1.5 * largest / 2**20 + 300
    print(
        f"model: {model} ({weights / 2**20:.0f} MiB of safetensors, "
        f"largest tensor {largest / 2**20:.0f} MiB)"
    )
    print(f"GGUF f16 conversion: {seconds:.1f} s, peak RSS {peak:.0f} MiB")
    print(f"bound 1.5 x largest + 300 MiB = {bound:.0f} MiB -> peak / bound = {peak / bound:.2f}")
    print(f"peak RSS / weights = {peak / (weights / 2**20):.2f}")
    if args.upstream:
        from dta_edge_testing.reference_tokenizers import llama_cpp_sources

        llama_cpp = llama_cpp_sources()
        theirs = args.work / f"{args.size}-f16-upstream.gguf"
        up_seconds, up_peak = measure(
            UPSTREAM, str(llama_cpp), str(model), "--outtype", "f16", "--outfile", str(theirs)
        )
        problems = tensor_differences(ours, theirs)
        print(f"upstream convert_hf_to_gguf.py ({llama_cpp}): {up_seconds:.1f} s, "
              f"peak RSS {up_peak:.0f} MiB")  # fmt: skip
        print(f"time ours / upstream = {seconds / up_seconds:.2f}; "
              f"peak RSS ours / upstream = {peak / up_peak:.2f}")  # fmt: skip
        print("tensors identical (names, shapes, types, bytes)" if not problems else
              f"{len(problems)} tensors differ: " + "; ".join(problems[:5]))  # fmt: skip


if __name__ == "__main__":
    main()

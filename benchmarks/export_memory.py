"""Peak memory and time of GGUF conversion: the tiny model and a ~500 MB random-weight Qwen3.

Not a test: it prints measurements. The writer streams one tensor at a time, so peak RSS should
stay within 1.5 x the largest tensor + 300 MB whatever the model size.

    .venv/bin/python benchmarks/export_memory.py [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CONVERT = """
import sys
from pathlib import Path
from dta_edge.export.gguf_writer import write_gguf
write_gguf(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
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


def measure(model: Path, out: Path, out_type: str) -> tuple[float, float]:
    """Run the conversion in a fresh process; return (seconds, peak RSS MiB of that process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", CONVERT, str(model), str(out), out_type], check=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise RuntimeError(
            "child peak RSS not above an earlier child's; run each size in its own process"
        )
    return seconds, peak / 1024


def main() -> None:
    """Measure one model size and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("runs/bench-export-memory"))
    parser.add_argument("--size", choices=["tiny", "500mb"], default="500mb")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.size == "tiny":
        from dta_edge.models.tiny import tiny_model

        model = tiny_model().path
    else:
        model = build_random_qwen3(args.work / "random-qwen3-500mb")
    weights = sum(p.stat().st_size for p in model.glob("*.safetensors"))
    largest = largest_tensor_bytes(model)
    seconds, peak = measure(model, args.work / f"{args.size}-f16.gguf", "f16")
    bound = 1.5 * largest / 2**20 + 300
    print(
        f"model: {model} ({weights / 2**20:.0f} MiB of safetensors, "
        f"largest tensor {largest / 2**20:.0f} MiB)"
    )
    print(f"GGUF f16 conversion: {seconds:.1f} s, peak RSS {peak:.0f} MiB")
    print(f"bound 1.5 x largest + 300 MiB = {bound:.0f} MiB -> peak / bound = {peak / bound:.2f}")
    print(f"peak RSS / weights = {peak / (weights / 2**20):.2f}")


if __name__ == "__main__":
    main()

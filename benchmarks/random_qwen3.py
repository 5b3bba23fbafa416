"""Build a random-weight Qwen3 locally (no download) with the tiny model's tokenizer.

Random weights decode garbage, which is all a speed, memory or energy benchmark needs: the
shapes, not the answers, set the cost. Sizes: ``0.5b`` (~0.45B parameters, bf16 on disk) for
decode-bound runs, ``150m`` for quick ones.

    python benchmarks/random_qwen3.py --size 0.5b --out runs/models/random-qwen3-0.5b
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

SIZES = {
    "150m": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12,
             "num_attention_heads": 12, "num_key_value_heads": 4, "head_dim": 64},
    "0.5b": {"hidden_size": 1024, "intermediate_size": 3584, "num_hidden_layers": 28,
             "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 64},
}  # fmt: skip


def build(size: str, out: Path, tokenizer_dir: Path | None = None) -> Path:
    """Write the model (bf16 safetensors) and tokenizer files into ``out``; reuse if present."""
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    if tokenizer_dir is None:
        from dta_edge.models.tiny import tiny_model

        tokenizer_dir = tiny_model().path
    import json

    vocab = json.loads((tokenizer_dir / "config.json").read_text())["vocab_size"]
    config = Qwen3Config(
        vocab_size=vocab, max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=json.loads((tokenizer_dir / "config.json").read_text())
        .get("eos_token_id"), **SIZES[size],
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                 "generation_config.json"):  # fmt: skip
        if (tokenizer_dir / name).exists():
            shutil.copy(tokenizer_dir / name, out / name)
    params = sum(p.numel() for p in model.parameters())
    print(f"random Qwen3 {size}: {params / 1e6:.0f}M parameters -> {out}")
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="0.5b")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokenizer", type=Path, default=None, help="Folder; default: tiny.")
    args = parser.parse_args()
    build(args.size, args.out, args.tokenizer)


if __name__ == "__main__":
    main()

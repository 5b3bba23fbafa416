"""Merge a LoRA adapter into its base model and measure that the merge changed nothing.

The merged folder is a plain transformers checkpoint (safetensors, tokenizer, chat template), so
GGUF, ONNX and vLLM consume it like any other model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dta_edge.errors import ExportError

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "generation_config.json",
)


def check_adapter_matches(model_dir: Path, adapter_dir: Path) -> None:
    """Refuse an adapter trained for another base, before any weights are loaded."""
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.exists():
        raise ExportError(f"{config_path}: missing; not a peft adapter folder")
    adapter = json.loads(config_path.read_text(encoding="utf-8"))
    base_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    targets = set(adapter.get("target_modules") or [])
    from safetensors import safe_open

    modules: set[str] = set()  # "model.layers.0.self_attn.q_proj.weight" -> "q_proj"
    for shard in sorted(model_dir.glob("*.safetensors")):
        with safe_open(shard, framework="pt") as handle:
            names = handle.keys()  # noqa: SIM118 - safe_open is not a dict
            modules.update(name.rsplit(".", 2)[-2] for name in names if "." in name)
    missing = sorted(targets - modules)
    if missing:
        raise ExportError(
            f"{config_path}: target modules {missing} do not exist in {model_dir} "
            f"({base_config.get('architectures')}); is the adapter for a different base?"
        )


def merge_adapter(model_dir: Path, adapter_dir: Path, out_dir: Path) -> Path:
    """Merge ``adapter_dir`` into ``model_dir`` (fp32) and save to ``out_dir`` atomically.

    Raises:
        ExportError: the adapter is missing, or for another base (shape or module mismatch).
    """
    import torch

    from dta_edge.models.hf_load import load_adapter, load_causal_lm

    check_adapter_matches(model_dir, adapter_dir)
    base = load_causal_lm(model_dir, dtype=torch.float32)
    try:
        merged = load_adapter(base, adapter_dir).merge_and_unload()
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ExportError(f"{adapter_dir}: cannot apply adapter to {model_dir}: {exc}") from None
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        merged.save_pretrained(staging)
        for name in TOKENIZER_FILES:
            if (model_dir / name).exists():
                shutil.copy2(model_dir / name, staging / name)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def merge_parity(
    model_dir: Path, adapter_dir: Path, merged_dir: Path, texts: Sequence[str]
) -> float:
    """Max absolute logit difference, merged model vs base + adapter, fp32, over ``texts``."""
    import torch

    from dta_edge.export.parity import max_logit_diff
    from dta_edge.models.hf_load import load_adapter, load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    base = load_causal_lm(model_dir, dtype=torch.float32)
    with_adapter = load_adapter(base, adapter_dir).eval()
    merged = load_causal_lm(merged_dir, dtype=torch.float32).eval()
    return max_logit_diff(with_adapter, merged, tokenizer, texts)

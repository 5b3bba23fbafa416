"""The one way dta-edge loads a transformers model, config, tokenizer or peft adapter.

A model folder is input from a stranger. transformers runs a folder's own Python when its
config names custom classes (``auto_map``) and ``trust_remote_code`` is on, and asks on the
terminal when it is left unset; a pickle (``pytorch_model.bin``) runs code when unpickled. So
every load here passes ``trust_remote_code=False``, refuses a local folder whose config names
custom code or that holds pickle weights only, and turns what transformers raises into one
line naming the folder. A test keeps every other module from calling ``from_pretrained``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dta_edge.errors import ModelError

_CODE_CONFIGS = ("config.json", "tokenizer_config.json", "adapter_config.json")
_PICKLES = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def refuse_remote_code(reference: str | Path) -> None:
    """Refuse a local model folder that names its own code or ships pickle weights only.

    Raises:
        ModelError: ``auto_map`` in one of its configs, or no safetensors beside a pickle.
    """
    folder = Path(reference)
    if not folder.is_dir():
        return  # a hub id: transformers itself refuses remote code (trust_remote_code=False)
    for name in _CODE_CONFIGS:
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: not readable JSON ({exc})") from None
        if isinstance(data, dict) and data.get("auto_map"):
            raise ModelError(
                f"{path}: names the folder's own Python code (auto_map); dta never runs a "
                "model folder's code. Use a model transformers supports natively, or remove "
                "auto_map if it does"
            )
    pickles = [p.name for pattern in _PICKLES for p in folder.glob(pattern)]
    has_weights = any(folder.glob("*.safetensors"))
    if pickles and not has_weights and (folder / "config.json").is_file():
        raise ModelError(
            f"{folder}: holds pickle weights only ({pickles[0]}); dta loads safetensors only, "
            "since unpickling runs code. Convert with safetensors' convert script, then retry"
        )


def _loaded(kind: str, reference: str | Path, load: Any) -> Any:
    """Run ``load()``, turning transformers' and peft's failures into one ModelError line."""
    try:
        return load()
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{reference}: cannot load the {kind}: {first}"[:500]) from None


def _auto(kind: str, class_name: str, reference: str | Path, **options: Any) -> Any:
    """``transformers.<class_name>.from_pretrained`` with remote code off, after the checks."""
    import transformers

    refuse_remote_code(reference)
    auto = getattr(transformers, class_name)
    return _loaded(
        kind, reference,
        lambda: auto.from_pretrained(str(reference), trust_remote_code=False, **options),
    )  # fmt: skip


def load_config(reference: str | Path) -> Any:
    """The model's transformers config."""
    return _auto("config", "AutoConfig", reference)


def load_tokenizer(reference: str | Path) -> Any:
    """The model's tokenizer."""
    return _auto("tokenizer", "AutoTokenizer", reference)


def load_causal_lm(reference: str | Path, **options: Any) -> Any:
    """The causal LM (``dtype``, ``device_map`` and other loading options passed through)."""
    return _auto("model", "AutoModelForCausalLM", reference, use_safetensors=True, **options)


def causal_lm_from_config(config: Any, **options: Any) -> Any:
    """An empty (or meta-device) model of ``config``: no weights, no folder code."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(config, trust_remote_code=False, **options)


def load_adapter(base: Any, adapter_dir: str | Path, **options: Any) -> Any:
    """``base`` with the peft adapter of ``adapter_dir`` applied (not merged)."""
    from peft import PeftModel

    refuse_remote_code(adapter_dir)
    return _loaded(
        "adapter", adapter_dir, lambda: PeftModel.from_pretrained(base, str(adapter_dir), **options)
    )


def load_lora_config(adapter_dir: str | Path) -> Any:
    """The adapter's ``LoraConfig`` (peft's), read from its JSON file: no weights, no code."""
    from peft import LoraConfig

    return _loaded("adapter", adapter_dir, lambda: LoraConfig.from_pretrained(str(adapter_dir)))

"""What the model-based analyses read: transformers models (or adapters) and prompt/solution data.

A model reference is a transformers folder, a hub id, ``embedded:tiny``, or a peft adapter folder
(``dta train`` writes ``<run>/adapter``), merged in memory onto the base its adapter_config.json
names, or onto ``base`` when that path does not exist here. Data is a JSONL of problems (question
and reference solution, as `dta problems generate` writes) or of SFT examples (as `dta curate`
writes), so the same analyses run on a benchmark file or on a curated set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dta_edge.errors import DataError

Pair = tuple[str, str]  # (user prompt, reference solution)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for forward passes, with the tokenizer and chat template it uses."""

    name: str
    model: Any
    tokenizer: Any
    device: str


def pick_device(device: str) -> str:
    """'auto' -> cuda where present, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    name: str, reference: str, base: str | None = None, device: str = "auto"
) -> LoadedModel:
    """Load a model reference for analysis (fp32 on CPU, bf16 on CUDA; eval mode).

    Raises:
        DataError: the folder is neither a model nor an adapter, or the adapter's base is missing.
    """
    import torch

    from dta_edge.models.hf_load import load_adapter, load_causal_lm, load_tokenizer
    from dta_edge.models.references import resolve_model

    device = pick_device(device)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    path = Path(resolve_model(reference))
    adapter_config = path / "adapter_config.json"
    if adapter_config.exists():
        named = json.loads(adapter_config.read_text()).get("base_model_name_or_path")
        base_ref = named if named and Path(named).exists() else base
        if base_ref is None:
            raise DataError(f"{adapter_config}: base model {named!r} not found; pass --base")
        base_ref = resolve_model(base_ref)
        model = load_causal_lm(base_ref, dtype=dtype)
        model = load_adapter(model, path).merge_and_unload()
        tokenizer_dir = path if (path / "tokenizer.json").exists() else Path(base_ref)
    elif path.is_dir() and not (path / "config.json").exists():
        raise DataError(f"{path}: no config.json or adapter_config.json; not a model folder")
    else:
        model = load_causal_lm(str(path), dtype=dtype)
        tokenizer_dir = path
    tokenizer = load_tokenizer(str(tokenizer_dir))
    if not tokenizer.chat_template:
        raise DataError(f"{tokenizer_dir}: the tokenizer has no chat template")
    return LoadedModel(name, model.to(device).eval(), tokenizer, device)


def same_tokenizer(models: list[LoadedModel]) -> None:
    """Token-level comparisons need one vocabulary.

    Raises:
        DataError: two models tokenise differently.
    """
    first = models[0].tokenizer.get_vocab()
    for other in models[1:]:
        if other.tokenizer.get_vocab() != first:
            raise DataError(
                f"{models[0].name} and {other.name} use different tokenizers; token shift and "
                "drift compare models that share one (a base and its fine-tunes)"
            )


def _pair(row: dict, where: str) -> Pair:
    if "messages" in row:  # an SFT example
        messages = row["messages"]
        user = next((m["content"] for m in messages if m.get("role") == "user"), None)
        answer = next((m["content"] for m in messages if m.get("role") == "assistant"), None)
        if user is None or answer is None:
            raise DataError(f"{where}: field 'messages' needs a user and an assistant turn")
        return user, answer
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: field 'question' is missing or empty")
    solution = row.get("solution")
    return question, solution if isinstance(solution, str) else ""


def read_pairs(path: Path, limit: int | None = None, need_solution: bool = True) -> list[Pair]:
    """(prompt, solution) pairs of a problems or SFT JSONL, the first ``limit`` of them.

    Raises:
        DataError: a missing file, a bad line, a record without question or solution.
    """
    from dta_edge.storage import MAX_JSON_DEPTH, nesting_depth, read_text_file

    pairs: list[Pair] = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        if nesting_depth(line) > MAX_JSON_DEPTH:
            raise DataError(f"{where}: nested over {MAX_JSON_DEPTH} levels deep")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object")
        pair = _pair(row, where)
        if need_solution and not pair[1].strip():
            raise DataError(f"{where}: field 'solution' is missing or empty")
        pairs.append(pair)
        if limit and len(pairs) >= limit:
            break
    if not pairs:
        raise DataError(f"{path}: no records")
    return pairs

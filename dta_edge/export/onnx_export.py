"""ONNX export with ONNX Runtime GenAI's model builder (KV cache included), and its parity.

Chosen over optimum's exporter, which pins transformers < 4.58 and so cannot share an environment
with transformers 5.x. The builder writes model.onnx(.data), genai_config.json and tokenizer files;
int4 uses MatMulNBits with block size 32.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from dta_edge.errors import ExportError, ParityUnavailable

ONNX_PRECISIONS = ("fp32", "int8", "int4")
EXECUTION_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "dml": "DmlExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
}


def graph_provider(onnx_dir: Path) -> str:
    """The provider a GenAI folder was built for, read from genai_config.json."""
    decoder = json.loads((onnx_dir / "genai_config.json").read_text())["model"]["decoder"]
    options = decoder.get("session_options", {}).get("provider_options", [])
    names = [name for option in options for name in option]
    return next((n for n in names if n in EXECUTION_PROVIDERS), "cpu")


def require_provider(provider: str) -> str:
    """The ONNX Runtime provider name, or ParityUnavailable when this install lacks it."""
    import onnxruntime as ort

    name = EXECUTION_PROVIDERS[provider]
    if name not in ort.get_available_providers():
        raise ParityUnavailable(
            f"the graph is built for {name}, which this onnxruntime lacks "
            f"(has: {', '.join(ort.get_available_providers())}); measure it on a machine with "
            f"onnxruntime-gpu: dta export verify DIR"
        )
    return name


def build_onnx(source: Path, out_dir: Path, precision: str, provider: str = "cpu") -> Path:
    """Run the GenAI builder into a staging folder, then rename it to ``out_dir``."""
    if precision not in ONNX_PRECISIONS:
        raise ExportError(
            f"unknown ONNX precision '{precision}'; valid: {', '.join(ONNX_PRECISIONS)}"
        )
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable, "-m", "onnxruntime_genai.models.builder",
        "-i", str(source), "-o", str(staging), "-p", precision, "-e", provider,
        "-c", str(staging / ".cache"), "--extra_options", "hf_remote=false",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not (staging / "model.onnx").exists():
        shutil.rmtree(staging, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ExportError(f"{source}: ONNX Runtime GenAI builder failed: {' | '.join(tail)}")
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir


def special_ids_match(onnx_dir: Path, source: Path) -> bool:
    """genai_config.json's bos/eos/pad ids equal the source model's.

    The source's ids are generation_config.json's where it sets them (a download's eos list and
    pad live there), else config.json's; a source without a pad id accepts the builder's choice
    of an end-of-sequence id as padding.
    """
    model = json.loads((onnx_dir / "genai_config.json").read_text())["model"]
    config = json.loads((source / "config.json").read_text())
    path = source / "generation_config.json"
    generation = json.loads(path.read_text()) if path.exists() else {}

    def source_id(key: str):
        value = generation.get(key)
        return value if value is not None else config.get(key)

    as_set = lambda v: set(v) if isinstance(v, list) else {v}  # noqa: E731
    eos = as_set(source_id("eos_token_id"))
    pad = source_id("pad_token_id")
    pad_ok = model.get("pad_token_id") == pad or (pad is None and model.get("pad_token_id") in eos)
    return (
        model.get("bos_token_id") == source_id("bos_token_id")
        and pad_ok
        and as_set(model.get("eos_token_id")) == eos
    )


def onnx_logits(onnx_dir: Path, ids: Sequence[int]):  # -> numpy [seq, vocab]
    """Teacher-forced logits of one sequence from model.onnx with an empty KV cache.

    Runs on the provider the graph was built for: a CUDA graph fuses ops the CPU provider lacks.
    """
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf

    path = onnx_dir / "model.onnx"
    provider = require_provider(graph_provider(onnx_dir))
    try:
        session = ort.InferenceSession(str(path), providers=[provider])
    except (InvalidProtobuf, InvalidGraph, Fail) as exc:
        raise ExportError(f"{path}: ONNX Runtime cannot load it ({str(exc)[:200]})") from None
    decoder = json.loads((onnx_dir / "genai_config.json").read_text())["model"]["decoder"]
    feeds = {
        "input_ids": np.array([ids], dtype=np.int64),
        "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
    }
    for item in session.get_inputs():
        if item.name.startswith("past_key_values"):
            kv_heads, head_dim = decoder["num_key_value_heads"], decoder["head_size"]
            dtype = np.float16 if "float16" in item.type else np.float32
            feeds[item.name] = np.zeros((1, kv_heads, 0, head_dim), dtype=dtype)
        elif item.name == "position_ids":
            feeds[item.name] = np.arange(len(ids), dtype=np.int64)[None]
    return session.run(["logits"], feeds)[0][0].astype(np.float32)


def onnx_top1_agreement(onnx_dir: Path, model_dir: Path, texts: Sequence[str]) -> float:
    """Share of teacher-forced positions where the ONNX argmax equals transformers' fp32 one."""
    import torch

    from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, dtype=torch.float32).eval()
    agree = total = 0
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        with torch.no_grad():
            reference = model(torch.tensor([ids])).logits[0].argmax(-1).numpy()
        agree += int((onnx_logits(onnx_dir, ids).argmax(-1) == reference).sum())
        total += len(ids)
    return agree / total


def onnx_greedy_tokens(
    onnx_dir: Path, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int = 64
) -> list[list[int]]:
    """Greedy continuations with ONNX Runtime GenAI.

    The runtime stops at EOS and leaves the EOS token out of the sequence (transformers keeps it).
    """
    import onnxruntime_genai as og

    model = og.Model(str(onnx_dir))
    outputs = []
    for ids in prompt_ids:
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=len(ids) + max_new_tokens)
        generator = og.Generator(model, params)
        generator.append_tokens(list(ids))
        while not generator.is_done():
            generator.generate_next_token()
        outputs.append([int(t) for t in generator.get_sequence(0)][len(ids) :])
    return outputs

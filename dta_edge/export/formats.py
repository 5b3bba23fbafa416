"""Each export format's writer and its parity measurement; `dta export` and verify share them.

A writer takes the source as a folder or as weights read one tensor at a time (a base with its
adapter merged in), and returns the exported file or folder. A measurement compares the export
with the same source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dta_edge.export.step_cost import StepCost, measured
from dta_edge.export.streamed_reference import KnownArgmax
from dta_edge.export.targets import ExportTarget
from dta_edge.layout import EXPORTED_FOLDER
from dta_edge.models.weights import Weights

Costs = dict[str, StepCost]
Source = Path | Weights
Progress = Callable[[str, int, int], None]  # (step, done, total)


def _quiet(_step: str, _done: int, _total: int) -> None:
    pass


QUICK_TEXTS, QUICK_POSITIONS = 4, 64  # --parity quick: this many texts, cut to this many tokens


def folder_of(source: Source) -> Path:
    """The folder a source's config and tokenizer come from."""
    return source if isinstance(source, Path) else source.folder


def parity_texts(n: int) -> list[str]:
    """Generated telecom problems and solutions: the text parity is measured on."""
    from dta_edge.tasks.generator import ProblemsConfig, generate_problems

    return [
        p.question + "\n" + (p.solution or "")
        for p in generate_problems(ProblemsConfig(n=n, seed=5))
    ]


def _write_gguf(
    target: ExportTarget, source: Source, out_dir: Path, costs: Costs, progress: Progress = _quiet
) -> Path:
    """Write the GGUF; a quantized one is made from a lossless bf16/f16/f32 copy, then removed."""
    from dta_edge.export.gguf_quantize import quantize_gguf
    from dta_edge.export.gguf_writer import lossless_type, write_gguf

    final = out_dir / f"{target.name}.gguf"
    if target.quantization in ("f32", "f16", "bf16"):
        with measured(costs, "write"):
            return write_gguf(source, final, target.quantization,  # type: ignore[arg-type]
                              on_tensor=lambda d, t: progress("write (tensors)", d, t))  # fmt: skip
    kind = lossless_type(source)
    base = out_dir / f".{target.name}-{kind}.gguf"
    try:
        with measured(costs, "write"):
            tensors = lambda d, t: progress(f"write {kind} (tensors)", d, t)  # noqa: E731
            write_gguf(source, base, kind, on_tensor=tensors)
        with measured(costs, "quantize"):
            step = f"quantize {target.quantization} (MiB)"
            mib = lambda d, t: progress(step, d >> 20, t >> 20)  # noqa: E731
            return quantize_gguf(base, final, target.quantization, on_bytes=mib)
    finally:
        base.unlink(missing_ok=True)


def _write_hf(
    target: ExportTarget, source: Source, out_dir: Path, costs: Costs, progress: Progress = _quiet
) -> Path:
    """A transformers folder in the target's dtype, written one tensor at a time."""
    from dta_edge.export.checkpoint_writer import write_checkpoint
    from dta_edge.models.weights import as_weights

    with measured(costs, "write"):
        return write_checkpoint(
            as_weights(source),
            out_dir / EXPORTED_FOLDER,
            target.quantization,  # type: ignore[arg-type]
        )


def _write_onnx(
    target: ExportTarget, source: Source, out_dir: Path, costs: Costs, progress: Progress = _quiet
) -> Path:
    from dta_edge.export.onnx_export import build_onnx

    with measured(costs, "write"):
        return build_onnx(folder_of(source), out_dir / "onnx", target.quantization, target.provider)


def _measure_gguf(
    final: Path, source: Source, texts: list[str], quick: bool, progress: Progress = _quiet,
    known: KnownArgmax | None = None,
) -> dict[str, float]:  # fmt: skip
    """Tokenization and top-1 parity; ``known``: transformers' argmax another pass computed."""
    from dta_edge.export.parity import gguf_top1_agreement, tokenization_parity

    plain, special = tokenization_parity(final, folder_of(source), texts)
    return {
        "tokenization_identical": 1.0 - len(plain) / len(texts),
        "tokenization_with_special_tokens_identical": 1.0 - len(special) / len(texts),
        "top1_agreement": gguf_top1_agreement(
            final,
            source,
            texts,
            max_positions=QUICK_POSITIONS if quick else None,
            on_layer=lambda d, t: progress("parity (reference layers)", d, t),
            known=known,
        ),  # fmt: skip
    }


def _measure_hf(
    final: Path, source: Source, texts: list[str], quick: bool, progress: Progress = _quiet,
    known: KnownArgmax | None = None,
) -> dict[str, float]:  # fmt: skip
    """Logit distance from the source; it compares logits, so ``known`` argmaxes cannot serve."""
    from dta_edge.export.parity import hf_max_logit_diff

    return {"max_abs_logit_diff": hf_max_logit_diff(source, final, texts)}


def _measure_onnx(
    final: Path, source: Source, texts: list[str], quick: bool, progress: Progress = _quiet,
    known: KnownArgmax | None = None,
) -> dict[str, float]:  # fmt: skip
    """ONNX parity against a folder (an adapter export writes its merged folder first).

    Its reference is a whole-model run on untruncated texts, so ``known`` argmaxes do not serve.
    """
    from dta_edge.export.onnx_export import onnx_top1_agreement, special_ids_match

    source = folder_of(source)
    parity = {
        "special_ids_match": float(special_ids_match(final, source)),
        "top1_agreement": onnx_top1_agreement(final, source, texts),
    }
    from dta_edge.export.onnx_int4_check import int4_dequant_max_logit_diff, is_int4

    if is_int4(final):
        parity["int4_dequant_max_abs_logit_diff"] = int4_dequant_max_logit_diff(
            final, source, texts
        )
    return parity


# format -> (writer, parity measurement); export and verify share the measurement.
FORMATS = {
    "gguf": (_write_gguf, _measure_gguf),
    "hf": (_write_hf, _measure_hf),
    "onnx": (_write_onnx, _measure_onnx),
}

"""`dta export`: merge (if an adapter is given), convert, quantize, measure parity, write manifest.

Every file lands under its final name only when complete (temp + rename), and manifest.json is
written last, so a folder with a manifest is a finished export.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from dta_edge.config import FrozenModel
from dta_edge.errors import DtaError, ExportError, ParityUnavailable
from dta_edge.export.step_cost import StepCost, measured
from dta_edge.export.targets import ExportTarget, ParityMode
from dta_edge.layout import EXPORTED_FOLDER, MANIFEST, MERGED
from dta_edge.runs import package_versions, run_record
from dta_edge.safe_paths import RelativeName, inside, remove_inside
from dta_edge.storage import atomic_write_json, read_text_file

TOOLS = (
    "dta-edge", "gguf", "llama_cpp_python", "onnxruntime", "onnxruntime-genai", "onnx_ir",
    "transformers", "torch", "peft", "safetensors",
)  # fmt: skip
Stage = Callable[[str], None]
Costs = dict[str, StepCost]
QUICK_TEXTS, QUICK_POSITIONS = 4, 64  # --parity quick: this many texts, cut to this many tokens
QUICK_ABOVE_WEIGHTS = 10**9  # --parity auto is quick above this many weights (1B)


class ExportedFile(FrozenModel):
    """One file of an export."""

    path: RelativeName = Field(description="Relative to the export folder; never leaves it.")
    bytes: int
    sha256: str


class ExportManifest(FrozenModel):
    """What manifest.json records about an export."""

    schema_version: Literal[1] = 1
    target: ExportTarget
    source_model: str
    source_sha256: str = Field(description="sha256 over the source folder's safetensors files.")
    adapter: str | None
    format: str
    quantization: str
    files: tuple[ExportedFile, ...]
    parity: dict[str, float]
    parity_unavailable: str | None = Field(
        default=None, description="Why parity was not measured here (e.g. no CUDA provider)."
    )
    parity_mode: Literal["quick", "full", "off"] = Field(
        default="full", description="How much parity was measured (see ExportTarget.parity)."
    )
    steps: dict[str, StepCost] = Field(
        default_factory=dict, description="Time and peak memory of each step (write, ...)."
    )
    tools: dict[str, str]
    seconds: float
    peak_rss_mib: float = Field(description="Peak resident memory of the export process.")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        digest.update(sha256_of(path).encode())
    return digest.hexdigest()


def parity_texts(n: int) -> list[str]:
    """Generated telecom problems and solutions: the text parity is measured on."""
    from dta_edge.tasks.generator import ProblemsConfig, generate_problems

    return [
        p.question + "\n" + (p.solution or "")
        for p in generate_problems(ProblemsConfig(n=n, seed=5))
    ]


def _write_gguf(target: ExportTarget, source: Path, out_dir: Path, costs: Costs) -> Path:
    """Write the GGUF; a quantized one is made from a lossless bf16/f16/f32 copy, then removed."""
    from dta_edge.export.gguf_quantize import quantize_gguf
    from dta_edge.export.gguf_writer import lossless_type, write_gguf

    final = out_dir / f"{target.name}.gguf"
    if target.quantization in ("f32", "f16", "bf16"):
        with measured(costs, "write"):
            return write_gguf(source, final, target.quantization)  # type: ignore[arg-type]
    kind = lossless_type(source)
    base = out_dir / f".{target.name}-{kind}.gguf"
    try:
        with measured(costs, "write"):
            write_gguf(source, base, kind)
        with measured(costs, "quantize"):
            return quantize_gguf(base, final, target.quantization)
    finally:
        base.unlink(missing_ok=True)


def _write_hf(target: ExportTarget, source: Path, out_dir: Path, costs: Costs) -> Path:
    import torch

    from dta_edge.export.merge import TOKENIZER_FILES
    from dta_edge.models.hf_load import load_causal_lm

    final = out_dir / EXPORTED_FOLDER
    staging = out_dir / f".{EXPORTED_FOLDER}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    with measured(costs, "write"):
        model = load_causal_lm(source, dtype=getattr(torch, target.quantization))
        model.save_pretrained(staging)
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, staging / name)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


def _write_onnx(target: ExportTarget, source: Path, out_dir: Path, costs: Costs) -> Path:
    from dta_edge.export.onnx_export import build_onnx

    with measured(costs, "write"):
        return build_onnx(source, out_dir / "onnx", target.quantization, target.provider)


def _measure_gguf(final: Path, source: Path, texts: list[str], quick: bool) -> dict[str, float]:
    from dta_edge.export.parity import gguf_top1_agreement, tokenization_parity

    plain, special = tokenization_parity(final, source, texts)
    return {
        "tokenization_identical": 1.0 - len(plain) / len(texts),
        "tokenization_with_special_tokens_identical": 1.0 - len(special) / len(texts),
        "top1_agreement": gguf_top1_agreement(
            final, source, texts, max_positions=QUICK_POSITIONS if quick else None
        ),
    }


def _measure_hf(final: Path, source: Path, texts: list[str], quick: bool) -> dict[str, float]:
    from dta_edge.export.parity import hf_max_logit_diff

    return {"max_abs_logit_diff": hf_max_logit_diff(source, final, texts)}


def _measure_onnx(final: Path, source: Path, texts: list[str], quick: bool) -> dict[str, float]:
    from dta_edge.export.onnx_export import onnx_top1_agreement, special_ids_match

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


def export_model(
    target: ExportTarget,
    model_dir: Path,
    out_dir: Path,
    adapter_dir: Path | None = None,
    on_stage: Stage | None = None,
    *,
    overwrite: bool = False,
    parity: ParityMode | None = None,
) -> ExportManifest:
    """Export ``model_dir`` (plus ``adapter_dir`` merged in) for ``target`` into ``out_dir``.

    ``parity`` overrides the target's parity mode (`dta export --parity`).

    A folder holding a finished export of another model, adapter or target is refused unless
    ``overwrite``; the previous export's files are removed before anything new is written, so a
    failed re-export never leaves the old model under the final name.

    Raises:
        ExportError: missing files, a wrong adapter, an unsupported model, a failed quantization,
            or a folder holding another export (without ``overwrite``).
    """
    if not (model_dir / "config.json").exists():
        raise ExportError(f"{model_dir}: not a transformers model folder (no config.json)")
    from dta_edge.models.hf_load import refuse_remote_code

    refuse_remote_code(model_dir)  # no folder code, no pickle weights, whatever the format
    if adapter_dir is not None:
        refuse_remote_code(adapter_dir)
    if parity is not None:
        target = target.model_copy(update={"parity": parity})
    config = {"target": target.model_dump(mode="json"), "model": str(model_dir),
              "adapter": str(adapter_dir) if adapter_dir else None}  # fmt: skip
    # the manifest guards this folder (cleared under the lock, before run.json is rewritten);
    # run.json records who exported, where and when
    clear = lambda: _clear_previous_export(out_dir, target, model_dir, adapter_dir, overwrite)  # noqa: E731
    with run_record(out_dir, "export", config, guard=False, overwrite=overwrite, check=clear):
        return _export(target, model_dir, out_dir, adapter_dir, on_stage)


def parity_mode(target: ExportTarget, source: Path) -> Literal["quick", "full", "off"]:
    """The target's parity mode, with auto settled by the checkpoint's number of weights."""
    if target.parity != "auto":
        return target.parity
    from dta_edge.export.streamed_reference import float32_bytes

    return "quick" if float32_bytes(source) // 4 > QUICK_ABOVE_WEIGHTS else "full"


def _measure(target: ExportTarget, mode: str, final: Path, source: Path) -> dict[str, float]:
    """Parity of ``final`` with ``source`` in ``mode`` (the manifest's and verify's numbers)."""
    quick = mode == "quick"
    texts = parity_texts(min(target.parity_texts, QUICK_TEXTS) if quick else target.parity_texts)
    return FORMATS[target.format][1](final, source, texts, quick)


def _export(
    target: ExportTarget,
    model_dir: Path,
    out_dir: Path,
    adapter_dir: Path | None,
    on_stage: Stage | None,
) -> ExportManifest:
    started = time.perf_counter()
    say = on_stage or (lambda _message: None)
    parity: dict[str, float] = {}
    costs: Costs = {}
    source = model_dir
    if adapter_dir is not None:
        from dta_edge.export.merge import merge_adapter, merge_parity

        say("merging adapter")
        with measured(costs, "merge"):
            source = merge_adapter(model_dir, adapter_dir, out_dir / MERGED)
            texts = parity_texts(target.parity_texts)
            parity["merge_max_abs_logit_diff"] = merge_parity(model_dir, adapter_dir, source, texts)
    mode = parity_mode(target, source)
    say(f"writing {target.format} ({target.quantization})")
    write = FORMATS[target.format][0]
    final = write(target, source, out_dir, costs)
    unavailable = None
    if mode == "off":
        unavailable = "parity off (--parity off)"
    else:
        say(f"measuring parity ({mode})")
        try:
            with measured(costs, "parity"):
                parity.update(_measure(target, mode, final, source))
        except ParityUnavailable as exc:
            unavailable = str(exc)
            say(f"parity not measured: {exc}")
    manifest = ExportManifest(
        target=target,
        source_model=str(model_dir),
        source_sha256=_folder_sha256(model_dir),
        adapter=str(adapter_dir) if adapter_dir else None,
        format=target.format,
        quantization=target.quantization,
        files=_exported_files(final, out_dir),
        parity=parity,
        parity_unavailable=unavailable,
        parity_mode=mode,
        steps=costs,
        tools=package_versions(TOOLS),
        seconds=round(time.perf_counter() - started, 2),
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )
    atomic_write_json(out_dir / MANIFEST, manifest.model_dump(mode="json"))
    return manifest


def _exported_files(final: Path, out_dir: Path) -> tuple[ExportedFile, ...]:
    """The exported file, or every file of the exported folder, with size and sha256."""
    paths = [final] if final.is_file() else sorted(p for p in final.iterdir() if p.is_file())
    return tuple(
        ExportedFile(path=str(p.relative_to(out_dir)), bytes=p.stat().st_size, sha256=sha256_of(p))
        for p in paths
    )


def read_manifest(out_dir: Path) -> ExportManifest:
    """The manifest of a finished export, every file name in it proven to stay in ``out_dir``.

    Raises:
        ExportError: no manifest, or one that does not validate (naming the file and field).
    """
    path = out_dir / MANIFEST
    if not path.exists():
        raise ExportError(f"{path}: missing; not a finished export folder")
    try:
        return ExportManifest.model_validate_json(read_text_file(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<top level>"
        raise ExportError(f"{path}: field {field}: {first['msg']}") from None
    except DtaError as exc:
        raise ExportError(str(exc)) from None


def _exported_top(out_dir: Path, manifest: ExportManifest, index: int = 0) -> Path:
    """The top-level entry of the export holding file ``index`` (the GGUF, or the folder)."""
    top = Path(manifest.files[index].path).parts[0]
    return inside(out_dir, top, source=f"{out_dir / MANIFEST} files[{index}].path")


def _clear_previous_export(
    out_dir: Path, target: ExportTarget, model_dir: Path, adapter_dir: Path | None, overwrite: bool
) -> None:
    """Remove the last export's manifest and files (refusing another model's unless overwrite).

    Only names the manifest lists, each proven to stay inside ``out_dir``, are removed; a
    manifest naming anything else is refused before anything is removed.
    """
    path = out_dir / MANIFEST
    if not path.exists():
        return
    try:
        old = read_manifest(out_dir)
    except ExportError as exc:
        if not overwrite:
            raise ExportError(
                f"{exc}; an unreadable manifest of an earlier export: pass --overwrite to "
                "replace that export"
            ) from None
        path.unlink()  # its file list cannot be trusted: nothing it names is removed
        return
    differences = [
        f"{name}: {before} before, {now} now"
        for name, before, now in (
            ("model", old.source_model, str(model_dir)),
            ("adapter", old.adapter, str(adapter_dir) if adapter_dir else None),
            ("target", old.target.name, target.name),
            ("quantization", old.quantization, target.quantization),
        )
        if before != now
    ]
    if differences and not overwrite:
        raise ExportError(
            f"{out_dir}: holds an export of another model ({'; '.join(differences)}); pass "
            "--overwrite to replace it, or choose another --out"
        )
    tops = [_exported_top(out_dir, old, index) for index in range(len(old.files))]
    path.unlink()  # from here on the folder holds no finished export
    for top in dict.fromkeys(tops):
        remove_inside(out_dir, top.name, source=str(path))


def exported_model(out_dir: Path) -> Path:
    """The model a finished export folder holds (the GGUF file, or the ONNX / HF folder)."""
    return _exported_top(out_dir, read_manifest(out_dir))


class VerifyResult(FrozenModel):
    """`dta export verify`: do the files and the parity still match the manifest?"""

    files_ok: bool
    problems: tuple[str, ...]
    parity_recorded: dict[str, float]
    parity_now: dict[str, float]
    parity_unavailable: str | None = None


def verify_export(out_dir: Path, tolerance: float = 1e-6) -> VerifyResult:
    """Re-hash every file and re-measure parity exactly as the export did.

    Raises:
        ExportError: no manifest, or a manifest that does not validate.
    """
    manifest = read_manifest(out_dir)
    file_problems: list[str] = []
    for index, item in enumerate(manifest.files):
        file = inside(out_dir, item.path, source=f"{out_dir / MANIFEST} files[{index}].path")
        if not file.exists():
            file_problems.append(f"{file}: missing")
        elif file.stat().st_size != item.bytes or sha256_of(file) != item.sha256:
            file_problems.append(f"{file}: content differs from the manifest")
    problems = list(file_problems)
    source = Path(manifest.source_model)
    now: dict[str, float] = {}
    unavailable = None
    if not file_problems and manifest.parity_mode != "off":
        merged = out_dir / MERGED
        model = merged if manifest.adapter else source
        final = _exported_top(out_dir, manifest)
        try:
            now = _measure(manifest.target, manifest.parity_mode, final, model)
        except ParityUnavailable as exc:
            unavailable = str(exc)
        for key, value in now.items():
            if abs(manifest.parity.get(key, float("nan")) - value) > tolerance:
                problems.append(
                    f"parity {key}: manifest {manifest.parity.get(key)}, measured {value}"
                )
    return VerifyResult(
        files_ok=not file_problems,
        problems=tuple(problems),
        parity_recorded=manifest.parity,
        parity_now=now,
        parity_unavailable=unavailable,
    )

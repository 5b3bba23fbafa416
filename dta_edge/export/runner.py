"""`dta export`: merge (if an adapter is given), convert, quantize, measure parity, write manifest.

Every file lands under its final name only when complete (temp + rename), and manifest.json is
written last, so a folder with a manifest is a finished export.
"""

from __future__ import annotations

import hashlib
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError

from dta_edge.config import FrozenModel
from dta_edge.errors import DtaError, ExportError, ParityUnavailable
from dta_edge.export.formats import (
    FORMATS,
    QUICK_POSITIONS,
    QUICK_TEXTS,
    Progress,
    Source,
    parity_texts,
)
from dta_edge.export.step_cost import StepCost, measured
from dta_edge.export.streamed_reference import KnownArgmax
from dta_edge.export.targets import ExportTarget, ParityMode
from dta_edge.layout import MANIFEST, MERGED, NATIVE_LOG
from dta_edge.runs import package_versions, run_record
from dta_edge.safe_paths import RelativeName, inside, remove_inside
from dta_edge.storage import atomic_write_json, read_text_file

TOOLS = (
    "dta-edge", "gguf", "llama_cpp_python", "onnxruntime", "onnxruntime-genai", "onnx_ir",
    "transformers", "torch", "peft", "safetensors",
)  # fmt: skip
Stage = Callable[[str], None]
Costs = dict[str, StepCost]
if TYPE_CHECKING:
    from dta_edge.export.lora_merge import MergedWeights
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
    merge_tensor_max_abs_diff: dict[str, float] = Field(
        default_factory=dict,
        description="With an adapter: per merged tensor, max |stored merge - fp32 reference "
        "merge| (the reference computed apart, with torch); the base's dtype rounds it.",
    )
    steps: dict[str, StepCost] = Field(
        default_factory=dict,
        description="Time and peak memory of each step (write, quantize, parity; merge is the "
        "merging time inside write, merge_parity the layer-by-layer check).",
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


def export_model(
    target: ExportTarget,
    model_dir: Path,
    out_dir: Path,
    adapter_dir: Path | None = None,
    on_stage: Stage | None = None,
    *,
    overwrite: bool = False,
    parity: ParityMode | None = None,
    on_progress: Progress | None = None,
) -> ExportManifest:
    """Export ``model_dir`` (plus ``adapter_dir`` merged in) for ``target`` into ``out_dir``.

    ``parity`` overrides the target's parity mode (`dta export --parity`); ``on_progress(step,
    done, total)`` follows each long step (tensors written, MiB quantized, layers compared).
    What llama.cpp and ONNX Runtime print from C goes to ``native.log`` in ``out_dir``.

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
    from dta_edge._console import native_stderr_to

    with (
        run_record(out_dir, "export", config, guard=False, overwrite=overwrite, check=clear),
        native_stderr_to(out_dir / NATIVE_LOG),
    ):
        return _export(target, model_dir, out_dir, adapter_dir, on_stage, on_progress)


def parity_mode(target: ExportTarget, source: Source) -> Literal["quick", "full", "off"]:
    """The target's parity mode, with auto settled by the checkpoint's number of weights."""
    if target.parity != "auto":
        return target.parity
    from dta_edge.export.streamed_reference import float32_bytes

    return "quick" if float32_bytes(source) // 4 > QUICK_ABOVE_WEIGHTS else "full"


def _texts(target: ExportTarget, mode: str) -> list[str]:
    quick = mode == "quick"
    return parity_texts(min(target.parity_texts, QUICK_TEXTS) if quick else target.parity_texts)


def _measure(
    target: ExportTarget,
    mode: str,
    final: Path,
    source: Source,
    progress: Progress | None = None,
    known: KnownArgmax | None = None,
) -> dict[str, float]:
    """Parity of ``final`` with ``source`` in ``mode`` (the manifest's and verify's numbers)."""
    measure = FORMATS[target.format][1]
    texts = _texts(target, mode)
    quiet: Progress = lambda _step, _done, _total: None  # noqa: E731
    return measure(final, source, texts, mode == "quick", progress or quiet, known)


def _merged_source(
    target: ExportTarget, model_dir: Path, adapter_dir: Path, out_dir: Path, say: Stage
) -> tuple[Source, MergedWeights]:
    """Base + adapter as weights merged tensor by tensor (headers checked, nothing read yet).

    GGUF and transformers targets read the merge straight from the view; the ONNX builder needs
    a folder, so for it the merge is written first (streamed, in the base's dtype).
    """
    from dta_edge.export.lora_merge import merged_weights

    merged = merged_weights(model_dir, adapter_dir)
    for warning in merged.warnings:
        say(f"note: {warning}")
    if target.format != "onnx":
        return merged, merged
    from dta_edge.export.checkpoint_writer import write_checkpoint

    say("writing the merged checkpoint for the ONNX builder")
    return write_checkpoint(merged, out_dir / MERGED), merged


def _export(
    target: ExportTarget,
    model_dir: Path,
    out_dir: Path,
    adapter_dir: Path | None,
    on_stage: Stage | None,
    on_progress: Progress | None = None,
) -> ExportManifest:
    started = time.perf_counter()
    say = on_stage or (lambda _message: None)
    progress = on_progress or (lambda _step, _done, _total: None)
    parity: dict[str, float] = {}
    costs: Costs = {}
    source: Source = model_dir
    merged = None
    known: KnownArgmax = {}  # the merge check's argmax, reused as the export's reference
    if adapter_dir is not None:
        say("merging adapter (tensor by tensor, in the base's dtype)")
        source, merged = _merged_source(target, model_dir, adapter_dir, out_dir, say)
    mode = parity_mode(target, source)
    say(f"writing {target.format} ({target.quantization})")
    final = FORMATS[target.format][0](target, source, out_dir, costs, progress)
    if merged is not None:
        costs["merge"] = StepCost(seconds=round(merged.seconds, 2), peak_rss_mib=None,
                                  peak_anon_mib=None)  # fmt: skip
        if mode != "off":
            from dta_edge.export.merge import merge_parity

            say(f"measuring merge parity ({mode}, one decoder layer at a time)")
            with measured(costs, "merge_parity"):
                checked = merge_parity(
                    model_dir, adapter_dir, merged, _texts(target, mode),
                    max_positions=QUICK_POSITIONS if mode == "quick" else None,
                    on_layer=lambda d, t: progress("merge parity (layers)", d, t),
                )  # fmt: skip
            parity["merge_max_abs_logit_diff"] = checked.max_abs_logit_diff
            parity["merge_top1_agreement"] = checked.top1_agreement
            parity["merge_max_abs_logit"] = checked.max_abs_logit
            known = checked.known_argmax()
    unavailable = None
    if mode == "off":
        unavailable = "parity off (--parity off)"
    else:
        say(f"measuring parity ({mode})")
        try:
            with measured(costs, "parity"):
                parity.update(_measure(target, mode, final, source, progress, known))
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
        merge_tensor_max_abs_diff=dict(merged.reference_diffs) if merged else {},
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


def _verify_source(out_dir: Path, source: Path, adapter: str | None) -> Source:
    """What an export is compared with again: the base, or base + adapter merged as before."""
    if adapter is None:
        return source
    if (out_dir / MERGED).is_dir():  # the ONNX route wrote the merged folder
        return out_dir / MERGED
    from dta_edge.export.lora_merge import merged_weights

    return merged_weights(source, Path(adapter))


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
        model = _verify_source(out_dir, source, manifest.adapter)
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

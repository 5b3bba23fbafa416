"""A base checkpoint with a LoRA adapter merged in, one tensor at a time, in the base's dtype.

peft's ``merge_and_unload`` needs the whole base in memory (32 GB in float32 for an 8B model)
and writes an fp32 copy. Here the merge is a :class:`~dta_edge.models.weights.Weights` view: each
adapted tensor is read from the base's shards, widened to float32, merged as
``W + scale * B @ A`` and narrowed back to the checkpoint's own dtype when it is read, so a
writer that visits every tensor holds one tensor at a time. peft's semantics are kept and a test
compares them with ``merge_and_unload``: ``lora_alpha / r`` (``/ sqrt(r)`` with rsLoRA),
``rank_pattern`` and ``alpha_pattern``, ``fan_in_fan_out``, LoRA on embeddings, a saved
``base_layer``, ``modules_to_save`` (the adapter's copy replaces the base tensor; a saved output
head unties tied embeddings, as the trained model is untied) and adapters saved from
``target_modules: all-linear`` (peft writes the resolved names). DoRA and non-LoRA adapters are
refused with a message, never merged wrong.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dta_edge.errors import ExportError
from dta_edge.models.bf16 import bf16_to_float32
from dta_edge.models.safetensors_stream import TensorEntry, read_float32, read_index
from dta_edge.models.weights import CheckpointWeights, read_json_object

ADAPTER_WEIGHTS = "adapter_model.safetensors"  # a pickle (.bin) is never read
ADAPTER_CONFIG = "adapter_config.json"
_PREFIX = "base_model.model."
_TIED_HEAD = "lm_head.weight"
_EMBEDDINGS = "model.embed_tokens.weight"


@dataclass(frozen=True)
class LoraDelta:
    """One adapted tensor: its low-rank factors in the adapter file and their scale."""

    target: str  # the base tensor, e.g. "model.layers.0.self_attn.q_proj.weight"
    a: TensorEntry
    b: TensorEntry
    scale: float
    embedding: bool  # lora_embedding_A/B: the delta is (B @ A).T
    transpose: bool  # fan_in_fan_out (Conv1D-style weights)

    def delta(self, path: Path) -> np.ndarray:
        """``scale * B @ A`` in float32, in the base tensor's layout."""
        a, b = read_float32(path, self.a), read_float32(path, self.b)
        product = b @ a
        product *= np.float32(self.scale)  # in place: the same bits as (b @ a) * scale
        return product.T if self.embedding or self.transpose else product


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """The rank_pattern/alpha_pattern value for a module: a key matches its name's tail (peft)."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _read_config(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / ADAPTER_CONFIG
    config = read_json_object(path, "a peft adapter folder")
    kind = config.get("peft_type", "LORA")
    if kind != "LORA":
        raise ExportError(f"{path}: peft_type {kind} is not merged here (LoRA adapters only)")
    if config.get("use_dora"):
        raise ExportError(
            f"{path}: a DoRA adapter (use_dora); merge it with peft's merge_and_unload and "
            "export the merged folder"
        )
    return config


class Adapter:
    """A peft LoRA adapter folder: its config, and where each factor lives in its file."""

    def __init__(self, adapter_dir: Path) -> None:
        """Read the config and the adapter file's header (no tensor data).

        Raises:
            ExportError: not a LoRA adapter, DoRA, pickle weights only, or a key it cannot place.
        """
        self.folder = adapter_dir
        self.config = _read_config(adapter_dir)
        self.path = adapter_dir / ADAPTER_WEIGHTS
        if not self.path.is_file():
            raise ExportError(
                f"{self.path}: missing (a pickle adapter_model.bin is not read: convert it to "
                "safetensors)"
            )
        self.entries = {entry.name: entry for entry in read_index(self.path)}
        self.base_layers: dict[str, TensorEntry] = {}  # copies of base tensors peft saved
        self.saved: dict[str, TensorEntry] = {}  # modules_to_save: trained whole tensors
        for key, entry in self.entries.items():
            if ".lora_" in key:
                continue
            name = key.removeprefix(_PREFIX)
            if ".base_layer." in name:
                self.base_layers[name.replace(".base_layer.", ".")] = entry
            else:
                self.saved[name] = entry
        self.deltas = self._deltas()

    def factor(self, entry: TensorEntry) -> np.ndarray:
        """One tensor of the adapter file in float32 (a LoRA factor or a saved module)."""
        return read_float32(self.path, entry)

    def _scale(self, module: str, rank: int) -> float:
        alpha = _pattern_value(self.config.get("alpha_pattern") or {}, module,
                               self.config.get("lora_alpha", 8))  # fmt: skip
        root = math.sqrt(rank) if self.config.get("use_rslora") else rank
        return float(alpha) / root

    def _deltas(self) -> dict[str, list[LoraDelta]]:
        found: dict[str, list[LoraDelta]] = {}
        for key, a in self.entries.items():
            match = re.fullmatch(r"(.+)\.(lora_A\.weight|lora_embedding_A)", key)
            if match is None:
                continue
            module = match.group(1).removeprefix(_PREFIX)
            embedding = match.group(2) == "lora_embedding_A"
            b_key = f"{match.group(1)}.{'lora_embedding_B' if embedding else 'lora_B.weight'}"
            if b_key not in self.entries:
                raise ExportError(f"{self.path}: '{key}' has no matching '{b_key}'")
            delta = LoraDelta(
                target=f"{module}.weight", a=a, b=self.entries[b_key],
                scale=self._scale(module, a.shape[0]), embedding=embedding,
                transpose=bool(self.config.get("fan_in_fan_out")) and not embedding,
            )  # fmt: skip
            found.setdefault(delta.target, []).append(delta)
        if not found and not self.saved:
            raise ExportError(f"{self.path}: holds no LoRA factors and no saved modules")
        return found


class MergedWeights:
    """Base weights with an adapter merged in, computed per tensor when read."""

    def __init__(self, base: CheckpointWeights, adapter: Adapter) -> None:
        """Check the adapter against the base's headers, before any weight is read.

        Raises:
            ExportError: a factor or saved tensor whose target the base lacks, or whose shape
                differs (an adapter trained for another base).
        """
        self.base = base
        self.adapter = adapter
        self.folder = base.folder
        self._base_config = base.config()
        self.tied = bool(self._base_config.get("tie_word_embeddings", False))
        # a trained copy of a tied head (modules_to_save) is its own matrix: peft unties it.
        # LoRA on a tied head merges into the shared matrix, embeddings included, as peft does.
        self.untied = self.tied and _TIED_HEAD in adapter.saved
        self._check_shapes()
        self.reference_diffs: dict[str, float] = {}
        self.seconds = 0.0  # spent merging (reading, multiplying, rounding), checks apart
        self.warnings: list[str] = []
        if self.tied and not self.untied and _EMBEDDINGS in adapter.deltas:
            self.warnings.append(
                "LoRA on the embeddings of a model with tied embeddings: merged, the output "
                "head changes with them (peft merges the same way), so the merged model is not "
                "base + adapter; merge parity will show how far"
            )

    def _target(self, name: str) -> str:
        """Where a delta on ``name`` lands (a tied head left tied is the embedding matrix)."""
        if name == _TIED_HEAD and self.tied and not self.untied:
            return _EMBEDDINGS
        return name

    def _base_name(self, name: str) -> str:
        """The base tensor ``name`` starts from: an untied head starts from the embeddings."""
        stored = {entry.name for entry in self.base.entries()}
        return _EMBEDDINGS if name == _TIED_HEAD and name not in stored else name

    def _check_shapes(self) -> None:
        names = {entry.name: entry for entry in self.base.entries()}
        where = self.adapter.path
        targets = self.adapter.config.get("target_modules")
        if isinstance(targets, list):  # a string is a regex or "all-linear": the tensors decide
            modules = {name.rsplit(".", 2)[-2] for name in names if "." in name}
            missing = sorted(set(targets) - modules - {"lm_head"})
            if missing:
                raise ExportError(
                    f"{self.adapter.folder / ADAPTER_CONFIG}: target modules {missing} do not "
                    f"exist in {self.folder} ({self._base_config.get('architectures')}); is the "
                    "adapter for a different base?"
                )
        for target, deltas in self.adapter.deltas.items():
            name = self._target(target)
            if name not in names and name not in self.adapter.saved:
                raise ExportError(
                    f"{where}: adapts '{target}', which {self.folder} does not have; is the "
                    "adapter for another base?"
                )
            shape = (self.adapter.saved.get(name) or names[self._base_name(name)]).shape
            for delta in deltas:
                rows, cols = delta.b.shape[0], delta.a.shape[1]
                want = (cols, rows) if delta.embedding or delta.transpose else (rows, cols)
                if tuple(shape) != want:
                    raise ExportError(
                        f"{where}: '{target}' is {list(want)} in the adapter but "
                        f"{list(shape)} in {self.folder}; is the adapter for another base?"
                    )
        for name, entry in self.adapter.saved.items():
            if name in names and tuple(names[name].shape) != tuple(entry.shape):
                raise ExportError(
                    f"{where}: saved '{name}' is {list(entry.shape)}, the base's is "
                    f"{list(names[name].shape)}; is the adapter for another base?"
                )
        for name, entry in self.adapter.base_layers.items():  # peft's copies of base tensors
            base = names.get(self._base_name(self._target(name)))
            if base is not None and tuple(base.shape) != tuple(entry.shape):
                raise ExportError(
                    f"{where}: '{name}' was trained with {entry.shape[0]} rows, the base has "
                    f"{base.shape[0]} (a resized vocabulary); merge it with peft's "
                    "merge_and_unload and export the merged folder"
                )

    def config(self) -> dict[str, Any]:
        """The base config; untied when the adapter saved its own output head."""
        return (
            {**self._base_config, "tie_word_embeddings": False}
            if self.untied
            else dict(self._base_config)
        )

    def entries(self) -> list[TensorEntry]:
        """The base's tensors (plus the output head a tied base did not store, once untied)."""
        entries = list(self.base.entries())
        if self.untied and _TIED_HEAD not in {e.name for e in entries}:
            embeddings = self.base.entry(_EMBEDDINGS)
            shape = self.adapter.saved.get(_TIED_HEAD, embeddings).shape
            entries.append(TensorEntry(_TIED_HEAD, embeddings.dtype, tuple(shape), 0, 0))
        return entries

    def changed(self, name: str) -> bool:
        """Whether the adapter changes ``name`` (else it is read straight from the base)."""
        return name in self.adapter.saved or any(
            self._target(target) == name for target in self.adapter.deltas
        )

    def float32(self, name: str) -> np.ndarray:
        """One tensor in float32: the merged value as stored (narrowed, then widened)."""
        if not self.changed(name):
            return self.base.float32(name)
        return self._narrowed(name)[1]

    def raw(self, name: str) -> np.ndarray:
        """The merged tensor in the checkpoint's own dtype (bf16 as uint16 words)."""
        if not self.changed(name):
            return self.base.raw(name)
        return self._narrowed(name)[0]

    def prefetch(self, names: Sequence[str]) -> None:
        """Start reading the base tensors these merged tensors start from (a hint)."""
        self.base.prefetch([self._base_name(name) for name in names])  # unknown names: skipped

    def _source32(self, name: str) -> np.ndarray:
        """The tensor the deltas are added to, in float32: the adapter's saved copy, else W."""
        if name in self.adapter.saved:
            return read_float32(self.adapter.path, self.adapter.saved[name])
        return self.base.float32(self._base_name(name))

    def _merged32(self, name: str, source: np.ndarray) -> np.ndarray:
        """``source + sum(scale * B @ A)`` in float32, in a new array (``source`` is kept)."""
        merged = None
        for target, deltas in self.adapter.deltas.items():
            if self._target(target) == name:
                for delta in deltas:
                    product = delta.delta(self.adapter.path)
                    if merged is None:  # source + first delta, written into the product
                        merged = np.add(source, product, out=np.ascontiguousarray(product))
                    else:
                        merged += product
        return source.copy() if merged is None else merged

    def _narrowed(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(stored array, its float32 value): the merge narrowed to the checkpoint's dtype.

        The first time a tensor is merged, its distance from an fp32 reference merge computed
        apart (torch) is recorded in :attr:`reference_diffs`.
        """
        started = time.perf_counter()
        source = self._source32(name)
        merged = self._merged32(name, source)
        dtype = self._dtype(name)
        if dtype == "BF16":  # torch rounds as float32_to_bf16 does, on every core (4x, measured)
            import torch

            narrowed = torch.from_numpy(merged).to(torch.bfloat16)
            stored: np.ndarray = narrowed.view(torch.int16).numpy().view(np.uint16)
            value = bf16_to_float32(stored, out=merged)  # merged is not needed any more
        elif dtype == "F16":
            stored = merged.astype(np.float16)
            value = stored.astype(np.float32)
        else:
            stored = value = merged
        self.seconds += time.perf_counter() - started
        if name not in self.reference_diffs:
            self.reference_diffs[name] = self._reference_diff(name, value, source)
        return stored, value

    def _dtype(self, name: str) -> str:
        return self.base.entry(self._base_name(name)).dtype

    def _reference_diff(self, name: str, value: np.ndarray, source: np.ndarray) -> float:
        """Max |stored - fp32 reference merge|, the reference computed apart with torch.

        ``source`` (the tensor before the merge) is used up: the reference is built in it.
        """
        import torch

        reference = torch.from_numpy(source)
        for target, deltas in self.adapter.deltas.items():
            if self._target(target) != name:
                continue
            for delta in deltas:
                a = torch.from_numpy(read_float32(self.adapter.path, delta.a))
                b = torch.from_numpy(read_float32(self.adapter.path, delta.b))
                product = torch.mm(b, a).mul_(delta.scale)
                reference += product.T if delta.embedding or delta.transpose else product
        difference = reference.sub_(torch.from_numpy(value))
        if not difference.numel():
            return 0.0
        return float(torch.linalg.vector_norm(difference, ord=math.inf))  # max |.|, one pass


def merged_weights(model_dir: Path, adapter_dir: Path) -> MergedWeights:
    """The merge of ``adapter_dir`` into ``model_dir``, checked against the base's headers.

    Raises:
        ExportError: the adapter is not a mergeable LoRA adapter, or is for another base.
    """
    return MergedWeights(CheckpointWeights(model_dir), Adapter(adapter_dir))

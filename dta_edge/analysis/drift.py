"""Latent drift: how far fine-tuning moved the model's representation of each benchmark's prompts.

For every model and benchmark, the prompts (user turn under the chat template, thinking off) are
run once; hidden states are mean-pooled over each prompt's tokens at the last layer and at one
chosen layer. Drift is the distance of each model's centroid from the base model's centroid, in
the full hidden space (L2, and cosine distance 1 - cos), plus the mean per-prompt L2 (the same
prompts under both models). For the picture, a 2-D PCA is fitted on the base model's states only,
so every model is drawn in the base's coordinates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dta_edge.analysis.inputs import LoadedModel
from dta_edge.errors import DataError
from dta_edge.layout import DRIFT, DRIFT_PLOT
from dta_edge.models.chat import ChatTemplate, student_prompt
from dta_edge.models.teacher_forcing import right_padded
from dta_edge.plot_text import literal
from dta_edge.runs import recorded
from dta_edge.storage import atomic_write_json

Progress = Callable[[str, int, int], None]


def pooled_states(
    lm: LoadedModel, prompts: Sequence[str], layers: Sequence[int], batch_size: int = 8
) -> dict[int, np.ndarray]:
    """Mean-pooled hidden states per layer: {layer: array (prompts, hidden)}.

    Layer 0 is the embeddings, layer N the last block's output (after the final norm, as
    transformers returns it).
    """
    import torch

    chat = ChatTemplate(lm.tokenizer.chat_template, f"the chat template of {lm.name}")
    texts = [student_prompt(chat, p) for p in prompts]
    encoded = [lm.tokenizer.encode(t, add_special_tokens=False) for t in texts]
    pad = lm.tokenizer.pad_token_id or 0
    out = {layer: np.zeros((len(prompts), lm.model.config.hidden_size)) for layer in layers}
    for start in range(0, len(encoded), batch_size):
        rows = encoded[start : start + batch_size]
        ids, mask = right_padded(rows, pad)
        with torch.no_grad():
            hidden = lm.model.base_model(  # the decoder alone: no logits needed
                ids.to(lm.device), attention_mask=mask.to(lm.device), output_hidden_states=True
            ).hidden_states
        weights = mask.to(lm.device).unsqueeze(-1).float()
        for layer in layers:
            pooled = (hidden[layer].float() * weights).sum(1) / weights.sum(1)
            out[layer][start : start + len(rows)] = pooled.cpu().numpy()
    return out


def layers_for(lm: LoadedModel, layer: int | None) -> list[int]:
    """The last layer and the chosen one (default: the middle block).

    Raises:
        DataError: a layer the model does not have.
    """
    n = lm.model.config.num_hidden_layers
    chosen = n // 2 if layer is None else layer
    if not 0 <= chosen <= n:
        raise DataError(f"--layer {chosen}: {lm.name} has layers 0..{n} (0 = embeddings)")
    return sorted({chosen, n})


def centroid_drift(base: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """L2 and cosine distance of the centroids, and mean per-prompt L2 (paired prompts)."""
    a, b = base.mean(0), other.mean(0)
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = 1.0 - float(a @ b) / norms if norms else 0.0
    return {
        "centroid_l2": float(np.linalg.norm(b - a)),
        "centroid_l2_relative": float(np.linalg.norm(b - a) / (np.linalg.norm(a) or 1.0)),
        "centroid_cosine_distance": max(cosine, 0.0),
        "mean_paired_l2": float(np.linalg.norm(other - base, axis=1).mean()),
    }


def drift_difference(
    base: np.ndarray, a: np.ndarray, b: np.ndarray, *, resamples: int = 1000, seed: int = 0
) -> dict:
    """A's relative centroid drift from the base minus B's, with a bootstrap over prompts.

    Every resample draws prompts with replacement, the same draw for the base and both models
    (the states are paired by prompt), and recomputes the three centroids.
    """

    def relative(rows: np.ndarray, other: np.ndarray) -> float:
        centre = rows.mean(0)
        return float(np.linalg.norm(other.mean(0) - centre) / (np.linalg.norm(centre) or 1.0))

    rng = np.random.default_rng(seed)
    n = len(base)
    draws = []
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        draws.append(relative(base[pick], a[pick]) - relative(base[pick], b[pick]))
    low, high = np.quantile(draws, [0.025, 0.975])
    return {"difference": relative(base, a) - relative(base, b), "ci95": [float(low), float(high)],
            "prompts": n, "resamples": resamples}  # fmt: skip


def _scatter(
    projected: dict[tuple[str, int], dict[str, np.ndarray]], layers: Sequence[int], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks = list(dict.fromkeys(b for b, _ in projected))
    figure, axes = plt.subplots(len(layers), len(benchmarks), squeeze=False, dpi=110,
                                figsize=(4.2 * len(benchmarks), 3.6 * len(layers)))  # fmt: skip
    markers = "os^Dv<>"
    for col, bench in enumerate(benchmarks):
        for row, layer in enumerate(layers):
            axis = axes[row][col]
            for index, (name, points) in enumerate(projected[(bench, layer)].items()):
                axis.scatter(points[:, 0], points[:, 1], s=14, alpha=0.6, color=f"C{index}",
                             marker=markers[index % len(markers)], label=literal(name))  # fmt: skip
                centre = points.mean(0)
                axis.scatter(*centre, s=120, color=f"C{index}", edgecolor="black", marker="X")
            axis.set_title(literal(f"{bench}, layer {layer}"), fontsize=9)
            axis.set_xlabel("PC1 (fitted on base)", fontsize=8)
            axis.set_ylabel("PC2", fontsize=8)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


@recorded("analyze.drift")
def analyze_drift(
    models: Sequence[LoadedModel],
    benchmarks: dict[str, list[str]],
    out_dir: Path,
    *,
    layer: int | None = None,
    batch_size: int = 8,
    on_progress: Progress | None = None,
) -> Path:
    """drift.json (table) and drift.png (scatter per benchmark and layer); the first is the base.

    Raises:
        DataError: fewer than two models, models of different widths, or too few prompts.
    """
    from sklearn.decomposition import PCA

    if len(models) < 2:
        raise DataError("drift compares at least two models: the base first, then the tuned")
    widths = {lm.name: lm.model.config.hidden_size for lm in models}
    if len(set(widths.values())) > 1:
        raise DataError(f"models differ in hidden size {widths}; drift needs one architecture")
    for bench, prompts in benchmarks.items():
        if len(prompts) < 3:
            raise DataError(f"{bench}: {len(prompts)} prompt(s); PCA needs at least 3")
    progress = on_progress or (lambda _name, _done, _total: None)
    layers = layers_for(models[0], layer)
    states: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    done = 0
    for lm in models:
        for bench, prompts in benchmarks.items():
            states[(lm.name, bench)] = pooled_states(lm, prompts, layers, batch_size)
            done += 1
            progress(lm.name, done, len(models) * len(benchmarks))
    base = models[0].name
    table = []
    comparisons: list[dict] = []
    projected: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    variance: dict[str, list[float]] = {}
    for bench in benchmarks:
        for index in layers:
            reference = states[(base, bench)][index]
            pca = PCA(n_components=2, random_state=0).fit(reference)
            variance[f"{bench}/layer{index}"] = [float(v) for v in pca.explained_variance_ratio_]
            projected[(bench, index)] = {
                lm.name: pca.transform(states[(lm.name, bench)][index]) for lm in models
            }
            for lm in models[1:]:
                distances = centroid_drift(reference, states[(lm.name, bench)][index])
                table.append({"benchmark": bench, "layer": index, "model": lm.name,
                              "prompts": len(benchmarks[bench]), **distances})  # fmt: skip
            tuned = models[1:]
            for i, a in enumerate(tuned):
                for b in tuned[i + 1 :]:
                    compared = drift_difference(reference, states[(a.name, bench)][index],
                                                states[(b.name, bench)][index])  # fmt: skip
                    comparisons.append({"benchmark": bench, "layer": index, "a": a.name,
                                        "b": b.name, **compared})  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    _scatter(projected, layers, out_dir / DRIFT_PLOT)
    path = out_dir / DRIFT
    atomic_write_json(path, {
        "base": base, "models": [lm.name for lm in models], "layers": layers,
        "last_layer": models[0].model.config.num_hidden_layers,
        "benchmarks": {b: len(p) for b, p in benchmarks.items()},
        "pca_explained_variance": variance, "drift": table, "comparisons": comparisons,
        "plot": DRIFT_PLOT,
    })  # fmt: skip
    return path

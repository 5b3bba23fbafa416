"""Teacher forcing: the log-probability a causal LM gives each target token after its prompt.

One scorer serves the Phase II NLL (mean over the solution and its end token) and token shift
(per solution token, credited to words): both score exactly what the student sees, rendered by
``student_prompt``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

TokenPair = tuple[Sequence[int], Sequence[int]]  # (prompt ids, target ids)


def right_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[Any, Any]:
    """(ids, attention mask) tensors for token rows padded on the right.

    Right padding suits teacher forcing and pooling on a causal model: pads come after every
    real token, so they change nothing that is read.
    """
    import torch

    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = torch.tensor(list(tokens))
        mask[row, : len(tokens)] = 1
    return ids, mask


def target_logprobs(
    model: Any,
    device: str,
    pairs: Sequence[TokenPair],
    pad: int,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Log-probability of every target token given its prompt and the targets before it.

    Batches hold sequences of similar length (sorted), padded on the right. The log-softmax runs
    in fp32, row by row over the target positions only: with a 150k vocabulary a whole batch in
    fp32 would take gigabytes.
    """
    import torch

    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    results: list[np.ndarray] = [np.zeros(0)] * len(pairs)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        ids, mask = right_padded([list(pairs[i][0]) + list(pairs[i][1]) for i in batch], pad)
        with torch.no_grad():
            logits = model(ids.to(device), attention_mask=mask.to(device)).logits
        for row, i in enumerate(batch):
            n_prompt, n_target = len(pairs[i][0]), len(pairs[i][1])
            rows = logits[row, n_prompt - 1 : n_prompt + n_target - 1].float()
            targets = torch.tensor(list(pairs[i][1]), device=rows.device)
            picked = rows.log_softmax(-1).gather(1, targets[:, None])[:, 0]
            results[i] = picked.cpu().numpy().astype(np.float64)
        if on_batch:
            on_batch(len(batch))
    return results

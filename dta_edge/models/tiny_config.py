"""Config of the embedded tiny model, apart from the builder so reading it never imports torch."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import Field, field_validator

from dta_edge.config import FrozenModel

# Bump when the builder or the generator changes the weights: cached builds are keyed on it.
BUILDER_VERSION = 3


class TinyModelConfig(FrozenModel):
    """Architecture and pre-training recipe of the embedded tiny Qwen3."""

    kind: Literal["tiny-model"] = "tiny-model"
    seed: int = Field(default=0, description="Seeds tokenizer corpus, weights and batches.")
    vocab_size: int = Field(
        default=1024, ge=300, description="BPE vocabulary incl. special tokens."
    )
    hidden_size: int = Field(default=128, ge=16)
    intermediate_size: int = Field(default=448, ge=16)
    num_hidden_layers: int = Field(default=4, ge=1)
    num_attention_heads: int = Field(default=4, ge=1)
    num_key_value_heads: int = Field(default=2, ge=1)
    head_dim: int = Field(default=32, ge=8)
    max_position_embeddings: int = Field(default=1024, ge=128)
    rope_theta: float = Field(default=10000.0, gt=0)
    corpus_problems: int = Field(
        default=4000, ge=10, description="Generated problems the tokenizer and pre-training see."
    )
    corpus_advanced_fraction: float = Field(
        default=0.25, ge=0, le=1, description="Share of advanced problems in the corpus."
    )
    corpus_focus_families: tuple[str, ...] = Field(
        default=(),
        description="Families oversampled in the corpus (e.g. ['link-budget']); empty: all alike.",
    )
    corpus_focus_fraction: float = Field(
        default=0.5, ge=0, le=1, description="Share of the corpus drawn from the focus families."
    )
    steps: int = Field(default=300, ge=1, description="Optimizer steps of pre-training.")
    batch_size: int = Field(default=16, ge=1)
    learning_rate: float = Field(default=4e-3, gt=0)
    warmup_steps: int = Field(default=20, ge=0)
    max_seq_len: int = Field(default=448, ge=64, description="Longer examples are dropped.")
    thinking_fraction: float = Field(
        default=0.25, ge=0, le=1, description="Share of examples with a non-empty think block."
    )
    demo_fraction: float = Field(
        default=0.0, ge=0, le=1, description="Share of the corpus from the generator's demo tier."
    )
    demo_format: Literal["steps", "oneshot", "answer"] = Field(
        default="steps",
        description="Demo-tier answers: one operation per step, the computation in one line, or "
        "the boxed answer alone. "
        "With thinking on, a demo-tier think block holds the step-by-step work.",
    )

    @field_validator("corpus_focus_families")
    @classmethod
    def _known_families(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        from dta_edge.tasks.telecom import check_family_names

        return check_family_names(names)

    def cache_key(self) -> str:
        """Stable key of everything that determines the weights."""
        # fields added after a release count only when set, so existing builds keep their key
        later = {name for name in ("demo_fraction", "demo_format")
                 if getattr(self, name) == type(self).model_fields[name].default}  # fmt: skip
        payload = f"{BUILDER_VERSION}:{self.model_dump_json(exclude=later)}"
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

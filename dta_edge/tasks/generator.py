"""Generate telecom-mathematics problems with verified answers and worked solutions.

Each problem draws its numbers from its own ``random.Random`` seeded by (seed, index), so a file is
byte-identical for the same config, and problem i does not change when n grows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from dta_edge.config import FrozenModel
from dta_edge.records import Problem
from dta_edge.tasks.telecom import TIERS, check_family_names
from dta_edge.tasks.telecom._common import solution_text

SOURCE = "telecom-generator"


class ProblemsConfig(FrozenModel):
    """Recipe for `dta problems generate`."""

    kind: Literal["problems"] = "problems"
    n: int = Field(default=200, ge=1, description="How many problems to write.")
    seed: int = Field(default=0, description="Same seed and config give a byte-identical file.")
    tier: Literal["standard", "demo"] = Field(
        default="standard",
        description="'demo': small-integer problems a laptop-sized model can learn in minutes.",
    )
    families: tuple[str, ...] = Field(
        default=(), description="Family names to draw from; empty means all of them."
    )
    difficulty: Literal["basic", "advanced", "mixed"] = Field(
        default="mixed", description="Tier of every problem, or a mix."
    )
    advanced_fraction: float = Field(
        default=0.4, ge=0.0, le=1.0, description="Share of advanced problems when mixed."
    )
    id_prefix: str = Field(default="tc", description="Problem ids are '<prefix>-<seed>-<index>'.")
    solution_format: Literal["steps", "oneshot", "answer"] = Field(
        default="steps",
        description="Reference solutions as one operation per step, (demo tier) in one line, "
        "or the boxed answer alone.",
    )

    @field_validator("families")
    @classmethod
    def _known_families(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return check_family_names(names, info.data.get("tier", "standard"))


def generate_problems(config: ProblemsConfig) -> Iterator[Problem]:
    """Yield ``config.n`` problems, cycling over the chosen families in a seeded order."""
    registry = TIERS[config.tier]
    names = list(config.families or sorted(registry))
    random.Random(f"families:{config.seed}").shuffle(names)
    for index in range(config.n):
        rng = random.Random(f"problem:{config.seed}:{index}")
        family = registry[names[index % len(names)]]
        if config.difficulty == "mixed":
            level = "advanced" if rng.random() < config.advanced_fraction else "basic"
        else:
            level = config.difficulty
        drawn = family.make(rng, level)
        answer = float(f"{drawn.answer:.6g}")
        yield Problem(
            id=f"{config.id_prefix}-{config.seed}-{index:05d}",
            source=SOURCE,
            category=family.category,
            family=family.name,
            difficulty=level,
            question=drawn.question,
            answer=answer,
            answer_text=f"{answer:.6g}",
            unit=drawn.unit or None,
            rel_tol=drawn.rel_tol,
            solution=solution_text(drawn, config.solution_format),
            method=drawn.method,
        )


def write_problems(config: ProblemsConfig, out: Path, *, overwrite: bool = False) -> Path:
    """Write generated problems to ``out`` (a .jsonl file, or a run folder getting problems.jsonl).

    The file is written atomically: an interrupted run leaves the previous file or none.
    """
    from dta_edge.layout import PROBLEMS
    from dta_edge.runs import run_record
    from dta_edge.storage import write_jsonl

    if out.suffix == ".jsonl":
        write_jsonl(out, generate_problems(config))
        return out
    with run_record(out, "problems.generate", config.model_dump(mode="json"), overwrite=overwrite):
        write_jsonl(out / PROBLEMS, generate_problems(config))
    return out / PROBLEMS


# The demo tier's evaluation problems. Every demo corpus, curation set and fine-tuning set leaves
# out these questions, so a held-out pass@1 never counts a problem any model trained on.
DEMO_HELD_OUT = ProblemsConfig(n=400, seed=4242, tier="demo", advanced_fraction=0.5,
                               id_prefix="demo-eval")  # fmt: skip


def demo_held_out(n: int) -> list[Problem]:
    """The first ``n`` (at most 400) demo-tier evaluation problems."""
    if n > DEMO_HELD_OUT.n:
        raise ValueError(f"the demo tier holds out {DEMO_HELD_OUT.n} problems; asked for {n}")
    return list(generate_problems(DEMO_HELD_OUT.model_copy(update={"n": n})))


def demo_training_problems(config: ProblemsConfig) -> Iterator[Problem]:
    """Demo-tier problems of ``config`` whose question is not one of the held-out ones."""
    held_out = {problem.question for problem in generate_problems(DEMO_HELD_OUT)}
    for problem in generate_problems(config.model_copy(update={"tier": "demo"})):
        if problem.question not in held_out:
            yield problem

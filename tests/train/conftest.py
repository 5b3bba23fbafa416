"""Shared by the training tests: an SFT set the tiny model has not seen, and a recipe file."""

import pytest

from dta_edge.curation.reference_teacher import styled_solution
from dta_edge.records import ChatMessage, SFTExample
from dta_edge.storage import write_jsonl
from dta_edge.tasks.generator import ProblemsConfig, generate_problems


@pytest.fixture(scope="session")
def sft_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sft") / "sft.jsonl"
    rows = [
        SFTExample(
            id=f"dta-{p.id}", problem_id=p.id, set_name="dta",
            # a style the tiny model has never seen, so there is something to learn
            messages=(ChatMessage(role="user", content=p.question),
                      ChatMessage(role="assistant", content=styled_solution(p, "narrative"))),
        )
        for p in generate_problems(ProblemsConfig(n=40, seed=77))
    ]  # fmt: skip
    write_jsonl(path, rows)
    return path


def recipe(tmp_path, **overrides) -> str:
    values = {"learning_rate": "2.0e-3", "epochs": 2, "batch_size": 8, "eval_fraction": 0.25,
              "logging_steps": 2, "save_steps": 2, "max_length": 512}  # fmt: skip
    values.update(overrides)
    body = "\n".join(f"{k}: {v}" for k, v in values.items())
    path = tmp_path / "train.yaml"
    path.write_text(f"kind: train-recipe\nname: t\nbase_model: embedded:tiny\n{body}\n")
    return str(path)

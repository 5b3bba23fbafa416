"""Fixtures for the model-based analyses: held-out problems with reference solutions."""

import pytest

from dta_edge.storage import write_jsonl
from dta_edge.tasks.generator import ProblemsConfig, generate_problems


@pytest.fixture(scope="session")
def held_out(tmp_path_factory):
    """16 generated problems (mixed tiers) with step-by-step solutions, as a JSONL file."""
    path = tmp_path_factory.mktemp("analysis-data") / "held-out.jsonl"
    write_jsonl(path, generate_problems(ProblemsConfig(n=16, seed=23)))
    return path

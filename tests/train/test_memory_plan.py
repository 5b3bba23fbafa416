"""The training memory plan: said before the run, refused when it cannot fit, close to measured."""

from __future__ import annotations

import json

import pytest

from dta_edge.config import load_config
from dta_edge.errors import DataError
from dta_edge.models.weights import read_config
from dta_edge.train.memory_plan import plan_memory, refuse_unless_fits
from dta_edge.train.recipe import TrainRecipe

from ..conftest import run_dta
from .conftest import recipe


def test_a_plan_that_cannot_fit_is_refused_naming_what_would(tmp_path, tiny_model_dir):
    spec = load_config(recipe(tmp_path), TrainRecipe)
    plan = plan_memory(read_config(tiny_model_dir), tiny_model_dir, spec, full=True, bf16=False,
                       checkpointing=False, device="cuda", capacity=64.0)  # fmt: skip
    assert not plan.fits and plan.total_mib > 64
    with pytest.raises(DataError, match="quantization: 4bit") as caught:
        refuse_unless_fits(plan, spec.name)
    message = str(caught.value)
    for field in ("drop --full", "gradient_checkpointing: on", "batch_size: 4", "max_length"):
        assert field in message
    smaller = plan_memory(
        read_config(tiny_model_dir),
        tiny_model_dir,
        spec,
        full=False,
        bf16=False,
        checkpointing=True,
        device="cuda",
        capacity=64.0,
    )
    assert smaller.total_mib < plan.total_mib / 2  # the advice shrinks the plan


@pytest.mark.slow
@pytest.mark.parametrize("full", [False, True])
def test_the_plan_is_within_30_percent_of_the_measured_peak(tmp_path, sft_file, full):
    out = tmp_path / "run"
    args = ["train", "--recipe", recipe(tmp_path, epochs=1, eval_fraction=0),
            "--data", str(sft_file), "--out", str(out)]  # fmt: skip
    result = run_dta(*args, *(["--full"] if full else []))
    assert result.returncode == 0, result.stderr
    assert "memory plan: about" in result.stdout
    summary = json.loads((out / "train.json").read_text())
    estimate, measured = summary["memory_plan"]["total_mib"], summary["measured_peak_mib"]
    assert summary["measured_how"] and measured > 0
    assert 0.7 <= estimate / measured <= 1.3, (estimate, measured)

"""Phase II's NLL from a served student equals the in-process scorers' (issue: a 32B student)."""

from __future__ import annotations

import pytest

from dta_edge.curation.nll import LlamaCppNll, TransformersNll
from dta_edge.curation.served_nll import ServedNll
from dta_edge.models.chat import user_prompt
from dta_edge.tasks.generator import ProblemsConfig, generate_problems


@pytest.fixture(scope="module")
def pairs():
    problems = generate_problems(ProblemsConfig(n=6, seed=21))
    return [(user_prompt(p.question), p.solution or "") for p in problems]


@pytest.fixture(scope="module")
def scoring_server(tiny_gguf_f32):
    from .echo_logprobs_server import EchoLogprobsServer

    server = EchoLogprobsServer(tiny_gguf_f32)
    yield server
    server.close()


@pytest.mark.server
def test_the_served_nll_equals_llama_cpps(scoring_server, tiny_gguf_f32, tiny_model_dir, pairs):
    local = LlamaCppNll(str(tiny_gguf_f32)).nll_per_token(pairs)
    options = {"base_url": [scoring_server.base_url] * 2, "concurrency": 2,
               "chat_template": str(tiny_model_dir)}  # fmt: skip
    served = ServedNll("tiny", options)
    try:
        remote = served.nll_per_token(pairs)
    finally:
        served.close()
    assert scoring_server.requests == len(pairs)
    assert len(remote) == len(local)
    for ours, theirs in zip(remote, local, strict=True):
        assert abs(ours - theirs) <= 1e-3, (remote, local)


def test_device_map_auto_scores_as_one_device(tiny_model_dir, pairs):
    whole = TransformersNll(str(tiny_model_dir), "cpu", 4).nll_per_token(pairs)
    spread = TransformersNll(str(tiny_model_dir), "cpu", 4, device_map="auto").nll_per_token(pairs)
    assert spread == pytest.approx(whole, abs=1e-5)


def test_a_served_scorer_needs_the_students_template(tmp_path):
    from dta_edge.config import load_config
    from dta_edge.config_checks import check_references
    from dta_edge.curation.recipe import CurationRecipe
    from dta_edge.errors import ConfigError

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "kind: curation-recipe\nname: served\nproblems: {generate: {n: 2}}\n"
        "student: {model: Qwen/Qwen3-32B, scorer: openai, scorer_options: "
        "{base_url: 'http://127.0.0.1:9/v1', concurrency: 4}}\n"
        "teachers: [{name: ref, kind: reference}]\n"
    )
    with pytest.raises(ConfigError, match="chat_template"):
        check_references(load_config(recipe, CurationRecipe), recipe)

"""What a run would fail on minutes in is caught at validation: files, models, backend options."""

from __future__ import annotations

import pytest

from dta_edge.config import load_config
from dta_edge.config_checks import check_references
from dta_edge.errors import ConfigError

from .conftest import REPO, run_dta

OFFLINE_SHIPPED = ["curation/demo.yaml", "curation/train-demo.yaml", "bench/demo.yaml",
                   *[f"export/{p.name}" for p in (REPO / "export").glob("*.yaml")]]  # fmt: skip


@pytest.mark.parametrize("name", OFFLINE_SHIPPED)
def test_shipped_offline_configs_pass_every_check(name):
    check_references(load_config(REPO / name), REPO / name)


def test_real_model_recipes_name_only_what_this_machine_lacks():
    """The Qwen3 recipes point at /models and exports on the GPU box: named, nothing else."""
    with pytest.raises(ConfigError) as caught:
        path = REPO / "bench" / "telemath-edge.yaml"
        check_references(load_config(path), path)
    assert {p.split(":")[0] for p in caught.value.problems} == {"problems.file", "systems[0].model"}
    schema_only = run_dta("config", "validate", "--schema-only", str(path))
    assert schema_only.returncode == 0, schema_only.stderr


def test_missing_files_and_unknown_options_are_all_listed(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""kind: bench-suite
name: s
problems: {{file: {tmp_path}/nope.jsonl}}
systems:
  - {{name: a, backend: llama-cpp, model: {tmp_path}/missing.gguf, options: {{n_thread: 2}}}}
  - {{name: b, backend: openai, model: served, options: {{base_url: "http://127.0.0.1:1/v1",
      api: completions, chat_template: {tmp_path}/no-template.jinja, retrys: 3}}}}
  - {{name: c, backend: transformers, model: ./no/such/folder}}
  - {{name: d, backend: transformers, model: Qwen/Qwen3-0.6B}}
  - {{name: e, backend: llama-cpp, model: "embedded:tiny@no-such-target"}}
""")
    result = run_dta("config", "validate", str(suite))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    for needle in ("problems.file", "systems[0].model", "missing.gguf: no such GGUF file",
                   "systems[0].options.n_thread: unknown option", "systems[1].options.retrys",
                   "systems[1].options.chat_template", "systems[2].model",
                   "systems[4].model: embedded:tiny@no-such-target"):  # fmt: skip
        assert needle in err, (needle, err)
    assert "systems[3]" not in err  # a hub id is left to the backend


def test_curation_prompt_that_does_not_exist(tmp_path):
    recipe = tmp_path / "r.yaml"
    text = (REPO / "curation" / "demo.yaml").read_text()
    recipe.write_text(text.replace("  kind: restyle", "  kind: model\n  prompt: prompts/no.jinja"))
    result = run_dta("curate", "--recipe", str(recipe), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "rewriter.prompt" in result.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written

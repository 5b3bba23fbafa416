"""Templates and configs cannot hang or crash the process; inputs are regular files.

A chat template comes with a model we did not write, a prompt template with a recipe; YAML and
JSON come from anyone. Each hostile case ends as exit 2 naming the model or file, in bounded
time (pytest-timeout fails a hang).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from dta_edge.models.chat import ChatTemplate
from dta_edge.models.template_sandbox import TemplateFault

from ..conftest import run_dta

HOSTILE_TEMPLATES = {
    "nested range loops": "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}"
    "{% endfor %}{{ messages[0].content }}",
    "include": "{% include 'other.jinja' %}",
    "import": "{% import 'macros.jinja' as m %}",
    "extends": "{% extends 'base.jinja' %}",
    "syntax error": "{% for m in messages %}{{ m.content }",
    "raise_exception": "{{ raise_exception('System role not supported') }}",
    "unsafe attribute": "{{ messages.__class__.__mro__[1].__subclasses__() }}",
    "doubling string": "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "huge repetition": "{{ 'x' * 10**10 }}",
    "huge width": "{{ 'x'|center(10**9) }}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "undefined call": "{{ nonexistent() }}",
}


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(HOSTILE_TEMPLATES))
def test_a_hostile_chat_template_is_a_fault_naming_its_model(name):
    started = time.perf_counter()
    with pytest.raises(TemplateFault, match="model-X"):
        ChatTemplate(HOSTILE_TEMPLATES[name], "the chat template of model-X")
    assert time.perf_counter() - started < 10


def _model_with_template(tiny_model_dir: Path, folder: Path, template: str) -> Path:
    shutil.copytree(tiny_model_dir, folder)
    (folder / "chat_template.jinja").write_text(template)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("name", "every_command"),
    [("nested range loops", True), ("raise_exception", True), ("include", False),
     ("unsafe attribute", False), ("syntax error", False)],
)  # fmt: skip
def test_validate_and_check_refuse_a_model_with_a_hostile_template(
    tmp_path, tiny_model_dir, name, every_command
):
    model = _model_with_template(tiny_model_dir, tmp_path / "model", HOSTILE_TEMPLATES[name])
    suite = tmp_path / "suite.yaml"
    suite.write_text("kind: bench-suite\nname: s\nproblems: {generate: {n: 2}}\nsystems:\n"
                     f"  - {{name: a, backend: transformers, model: '{model}'}}\n")  # fmt: skip
    commands = [("config", "validate", str(suite))]
    if every_command:  # the stages refuse it too, before any work (once hung or a traceback)
        commands += [
            ("bench", "--suite", str(suite), "--out", str(tmp_path / "b")),
            ("model", "check", str(model), "--out", str(tmp_path / "c"), "--n", "2"),
        ]
    for command in commands:
        result = run_dta(*command, timeout=120)
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and str(model) in result.stderr


@pytest.mark.parametrize("name", ["include", "syntax error", "extends"])
def test_a_recipe_prompt_that_reads_files_or_breaks_is_refused(tmp_path, name):
    prompt = tmp_path / "teacher.jinja"
    prompt.write_text(HOSTILE_TEMPLATES[name])
    recipe = tmp_path / "recipe.yaml"
    shipped = (Path(__file__).parents[2] / "curation" / "telemath-qwen3.yaml").read_text()
    recipe.write_text(
        shipped.replace("  - name: qwen3-32b\n", f"  - name: qwen3-32b\n    prompt: {prompt}\n", 1)
    )
    result = run_dta("config", "validate", str(recipe))
    assert result.returncode == 2 and str(prompt) in result.stderr
    assert "Traceback" not in result.stderr


def _nested_yaml(levels: int) -> str:
    return "kind: profile\nname: deep\nx: " + "[" * levels + "]" * levels + "\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("levels", [600, 20_000])
def test_deep_yaml_is_refused_at_a_fixed_depth(tmp_path, levels):
    config = tmp_path / "deep.yaml"
    config.write_text(_nested_yaml(levels))
    result = run_dta("config", "validate", str(config))
    assert result.returncode == 2 and "nested over 64 levels" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", ["problems", "completions"])
def test_a_deep_json_line_is_refused(tmp_path, which):
    from dta_edge.records import Completion, Problem
    from dta_edge.storage import write_jsonl

    write_jsonl(
        tmp_path / "problems.jsonl",
        [Problem(id="a", source="t", category="c", question="q", answer=1.0, answer_text="1")],
    )
    write_jsonl(tmp_path / "completions.jsonl", [Completion(request_id="a", text="1")])
    deep = '{"id": "b", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    with (tmp_path / f"{which}.jsonl").open("a") as handle:
        handle.write(deep)
    result = run_dta("score", "run", "--problems", str(tmp_path / "problems.jsonl"),
                     "--completions", str(tmp_path / "completions.jsonl"),
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2 and "nested over 64 levels" in result.stderr
    assert f"{which}.jsonl:2" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("role", ["config", "problems"])
def test_a_fifo_or_device_as_input_is_refused(tmp_path, kind, role):
    if kind == "fifo":
        source = tmp_path / "pipe.jsonl"
        os.mkfifo(source)
    else:
        source = Path("/dev/zero")
    if role == "config":
        result = run_dta("config", "validate", str(source))
    else:
        from dta_edge.records import Completion
        from dta_edge.storage import write_jsonl

        write_jsonl(tmp_path / "c.jsonl", [Completion(request_id="a", text="1")])
        result = run_dta("score", "run", "--problems", str(source), "--completions",
                         str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert ("FIFO" if kind == "fifo" else "device") in result.stderr
    assert "Traceback" not in result.stderr

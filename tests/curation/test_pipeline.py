"""dta curate end to end: the demo recipe, a llama.cpp server teacher, SIGKILL resume, secrets."""

import json
import os
import subprocess
import sys

import pytest

from dta_edge.records import AlignedCandidate, Candidate, SFTExample
from dta_edge.storage import read_jsonl

from ..backends.fault_server import FaultServer
from ..conftest import REPO, kill_dta_when, run_dta


def small_demo(tmp_path, n: int, **replace: str):
    text = (REPO / "curation/demo.yaml").read_text().replace("n: 24,", f"n: {n},")
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_demo_recipe_end_to_end(tmp_path):
    out = tmp_path / "out"
    result = run_dta("curate", "--recipe", str(small_demo(tmp_path, 8)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    funnel = json.loads((out / "funnel.json").read_text())
    phase1, phase2 = funnel["phase1"], funnel["phase2"]
    assert phase1["candidates"] == 8 * (4 + 2) and phase1["synthetic_wrong"] > 0
    assert funnel["agreement"]["agreed"] + funnel["agreement"]["rejected"] == phase1["candidates"]
    assert phase2["rewritten"] == funnel["agreement"]["agreed"]
    assert phase2["kept"] + sum(phase2["rejected"].values()) == phase2["rewritten"]
    assert phase2["student_nll_after_mean"] < phase2["student_nll_before_mean"]
    aligned = read_jsonl(out / "aligned.jsonl", AlignedCandidate)
    assert all(a.nll_after < a.nll_before or a.reason == "already in the student's voice"
               for a in aligned if a.kept)  # fmt: skip
    sft = read_jsonl(out / "sft.jsonl", SFTExample)
    distilled = read_jsonl(out / "distilled.jsonl", SFTExample)
    assert len(sft) == funnel["outputs"]["sft.jsonl"] > 0
    assert len(distilled) == funnel["outputs"]["distilled.jsonl"] > 0
    assert {e.set_name for e in sft} == {"dta"} and {e.set_name for e in distilled} == {"distilled"}
    per_problem = max(sum(e.problem_id == p for e in sft) for p in {e.problem_id for e in sft})
    assert per_problem <= 2
    assert "sft" in result.stdout and "NLL" in result.stdout
    written = {name: (out / name).read_text() for name in ("candidates.jsonl", "aligned.jsonl")}
    rerun = run_dta("curate", "--recipe", str(small_demo(tmp_path, 8)), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    for name, text in written.items():
        assert (out / name).read_text() == text, name  # resumed: nothing asked again
    assert json.loads((out / "funnel.json").read_text()) == funnel
    _check_matched_selection(tmp_path, out)


def _check_matched_selection(tmp_path, out) -> None:
    """selection.matched: the control is the DTA set's twin (same problems, same counts)."""
    from collections import Counter

    from dta_edge.config import load_config
    from dta_edge.curation.recipe import CurationRecipe
    from dta_edge.curation.select import run_select
    from dta_edge.tasks.sources import load_problem_source

    path = small_demo(tmp_path, 8)
    recipe = load_config(path, CurationRecipe)
    recipe = recipe.model_copy(
        update={"selection": recipe.selection.model_copy(update={"matched": True})}
    )
    funnel = run_select(recipe, load_problem_source(recipe.problems, recipe.n, path), out)
    sft = read_jsonl(out / "sft.jsonl", SFTExample)
    distilled = read_jsonl(out / "distilled.jsonl", SFTExample)
    assert len(sft) == len(distilled) == funnel.outputs["sft.jsonl"] > 0
    control = funnel.model_dump()["selection"]["distilled"]  # every agreed original accounted
    assert control["kept"] + sum(control["dropped"].values()) == funnel.agreement.agreed
    assert Counter(e.problem_id for e in sft) == Counter(e.problem_id for e in distilled)
    texts = {e.messages[-1].content for e in sft}
    assert texts != {e.messages[-1].content for e in distilled}  # rewrites, not the originals


def server_recipe(tmp_path, base_url, tiny_model_dir, extra="", n=6, k=2):
    path = tmp_path / "server.yaml"
    path.write_text(f"""kind: curation-recipe
name: server
problems:
  generate: {{n: {n}, seed: 4}}
student: {{model: {tiny_model_dir}, exemplars: 0}}
teachers:
  - name: reference
    kind: reference
    k: 1
  - name: served
    model:
      backend: openai
      model: tiny
      options:
        base_url: "{base_url}"
        api: completions
        chat_template: "{tiny_model_dir}"
        backoff_s: 0.01
        retries: 1
        extra_body: {{repeat_penalty: 1.0}}
{extra}
      sampling: {{temperature: 0.7, max_tokens: 48}}
    k: {k}
    concurrency: 2
""")
    return path


def test_phase1_with_a_llama_cpp_server_teacher(tmp_path, llama_server, tiny_model_dir):
    out = tmp_path / "out"
    recipe = server_recipe(tmp_path, llama_server, tiny_model_dir)
    result = run_dta("curate", "phase1", "--recipe", str(recipe), "--out", str(out))
    assert result.returncode == 0, result.stderr
    candidates = read_jsonl(out / "candidates.jsonl", Candidate)
    served = [c for c in candidates if c.teacher == "served"]
    assert len(served) == 6 * 2 and all(c.error is None and c.text for c in served)
    assert all(c.output_tokens and c.latency_s > 0 for c in served)
    assert len({(c.problem_id, c.text) for c in served}) > 6  # sampled, not copies


def test_failures_are_recorded_and_api_keys_never_written(tmp_path, tiny_model_dir):
    server = FaultServer(["e500", "e500"])  # the first problem fails both attempts
    try:
        extra = "        api_key_env: DTA_CURATE_KEY"
        recipe = server_recipe(tmp_path, server.base_url, tiny_model_dir, extra, n=3, k=1)
        recipe.write_text(recipe.read_text().replace("concurrency: 2", "concurrency: 1"))
        env = {**os.environ, "DTA_CURATE_KEY": "sk-never-log-me"}
        out = tmp_path / "out"
        result = subprocess.run(
            [sys.executable, "-m", "dta_edge", "curate", "phase1", "--recipe", str(recipe),
             "--out", str(out)], capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
        )  # fmt: skip
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert all(h["Authorization"] == "Bearer sk-never-log-me" for h in server.headers)
    served = [c for c in read_jsonl(out / "candidates.jsonl", Candidate) if c.teacher == "served"]
    assert len(served) == 3
    assert sum(c.error is not None and "HTTP 500" in c.error for c in served) == 1
    for path in out.rglob("*"):
        if path.is_file():
            assert "sk-never-log-me" not in path.read_text(errors="replace"), path
    assert "sk-never-log-me" not in result.stdout + result.stderr


def _kept_problems(recipe) -> int:
    """How many of the recipe's problems pass its decontamination check (demo.yaml has one)."""
    from dta_edge.config import load_config
    from dta_edge.curation.decontaminate import BenchIndex, Ledger, bench_questions, clean_problems
    from dta_edge.curation.recipe import CurationRecipe
    from dta_edge.tasks.sources import load_problem_source

    spec = load_config(recipe, CurationRecipe)
    bench = bench_questions(spec.decontaminate, recipe)
    problems = load_problem_source(spec.problems, spec.n, recipe)
    return len(clean_problems(problems, Ledger(BenchIndex(bench, spec.decontaminate))))


@pytest.mark.slow
def test_sigkill_mid_phase1_then_resume(tmp_path):
    recipe = small_demo(tmp_path, 80)
    out = tmp_path / "out"
    path = out / "candidates.jsonl"
    expected = _kept_problems(recipe) * 6
    assert 70 * 6 <= expected < 80 * 6  # bench/demo.yaml's questions are not trained on
    # the reference teacher writes 4 per problem quickly; kill while the tiny teacher is under way
    kill_dta_when(path, 340, "curate", "phase1", "--recipe", str(recipe), "--out", str(out))
    lines = path.read_text().count("\n")
    assert 340 <= lines < expected, "killed too late to test a resume"
    rerun = run_dta("curate", "phase1", "--recipe", str(recipe), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    keys = [c.key for c in read_jsonl(path, Candidate)]
    assert len(keys) == len(set(keys)) == expected


@pytest.mark.slow
def test_rewriter_and_judge_served_by_llama_cpp_server(tmp_path, llama_server, tiny_model_dir):
    """Both Phase II models behind llama.cpp's OpenAI server: every outcome is recorded with a
    reason (the tiny model mostly fails; what matters is that nothing is lost or crashes)."""
    served = f"""  model:
    backend: openai
    model: tiny
    options: {{base_url: "{llama_server}", api: completions, chat_template: "{tiny_model_dir}",
               extra_body: {{repeat_penalty: 1.0}}}}"""
    common = f"""kind: curation-recipe
name: served-phase2
problems:
  generate: {{n: 3, seed: 5}}
student: {{model: {tiny_model_dir}, exemplars: 1, max_tokens: 48}}
teachers:
  - {{name: reference, kind: reference, k: 2}}
"""
    rewriting = tmp_path / "rewrite.yaml"
    rewriting.write_text(
        common
        + f"""rewriter:
{served}
  phrasings: 2
  sampling: {{temperature: 0.7, max_tokens: 64}}
judge: {{enabled: false}}
"""
    )
    judging = tmp_path / "judge.yaml"
    judging.write_text(
        common
        + f"""rewriter: {{kind: restyle}}
judge:
  model:
    backend: openai
    model: tiny
    options: {{base_url: "{llama_server}", json_format: json_object,
               extra_body: {{repeat_penalty: 1.0}}}}
  retries: 1
"""
    )
    for recipe in (rewriting, judging):
        out = tmp_path / recipe.stem
        result = run_dta("curate", "--recipe", str(recipe), "--out", str(out))
        assert result.returncode == 0, result.stderr
        aligned = read_jsonl(out / "aligned.jsonl", AlignedCandidate)
        assert len(aligned) == 3 * 2  # every agreed reference solution has an outcome
        assert all(a.reason for a in aligned)
        funnel = json.loads((out / "funnel.json").read_text())
        assert funnel["judge"]["judged"] == sum(a.kept for a in aligned)
    verdicts = [json.loads(line) for line in (tmp_path / "judge" / "judged.jsonl").open()]
    assert verdicts and all(v["reason"] for v in verdicts)

"""Secrets stay on their host: no cross-origin redirect with the key, no key in a URL, no
program named by a profile, no model folder's own code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dta_edge.backends.base import GenerationRequest, SamplingSettings
from dta_edge.backends.openai_backend import ServerError
from dta_edge.backends.registry import create_generator
from dta_edge.errors import ConfigError
from dta_edge.records import ChatMessage

from ..backends.fault_server import FaultServer
from ..conftest import REPO, run_dta

REQUEST = GenerationRequest(
    messages=(ChatMessage(role="user", content="What is 6 x 7?"),),
    sampling=SamplingSettings(max_tokens=8),
)
KEY = "sk-test-secret-0123456789"
FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5, "retries": 2}


@pytest.fixture
def two_servers():
    home, elsewhere = FaultServer([]), FaultServer([])
    yield home, elsewhere
    home.close()
    elsewhere.close()


def test_a_redirect_to_another_origin_is_refused_and_gets_no_key(two_servers, monkeypatch):
    home, elsewhere = two_servers
    home.script = ["redirect"]
    home.redirect_to = elsewhere.base_url + "/chat/completions"  # another port: another origin
    monkeypatch.setenv("DTA_TEST_KEY", KEY)
    options = {"base_url": home.base_url, "api_key_env": "DTA_TEST_KEY", **FAST}
    generator = create_generator("openai", "m", options)
    with pytest.raises(ServerError, match="another origin") as caught:
        generator.generate(REQUEST)
    assert elsewhere.requests == 0  # never asked, so never saw the key
    assert home.requests == 1  # not retried either
    assert KEY not in str(caught.value)


def test_a_redirect_within_the_origin_is_followed_with_the_key(two_servers, monkeypatch):
    home, _ = two_servers
    home.script = ["moved"]
    monkeypatch.setenv("DTA_TEST_KEY", KEY)
    options = {"base_url": home.base_url, "api_key_env": "DTA_TEST_KEY", **FAST}
    answer = create_generator("openai", "m", options).generate(REQUEST)[0]
    assert answer.text.endswith("\\boxed{42}.")
    assert home.requests == 2
    assert home.headers[1]["Authorization"] == f"Bearer {KEY}"


def test_an_http_proxy_from_the_environment_is_used(two_servers, monkeypatch):
    """As urllib did: http_proxy carries plain-http requests (the absolute URL asked)."""
    proxy, _ = two_servers
    monkeypatch.setenv("http_proxy", proxy.base_url.removesuffix("/v1"))
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    options = {"base_url": "http://teacher.example:8000/v1", **FAST}
    answer = create_generator("openai", "m", options).generate(REQUEST)[0]
    assert answer.text.endswith("\\boxed{42}.")
    assert proxy.paths == ["http://teacher.example:8000/v1/chat/completions"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{KEY}@127.0.0.1:8000/v1",
        f"http://127.0.0.1:8000/v1?key={KEY}",
        f"https://api.example.com/v1?api_key={KEY}&x=1",
        f"http://127.0.0.1:8000/v1?token={KEY}",
        f"http://:{KEY}@127.0.0.1/v1",
    ],
)
def test_credentials_in_a_base_url_are_refused_unshown(tmp_path, url):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "kind: bench-suite\nname: s\nproblems: {generate: {n: 2}}\nsystems:\n"
        f"  - {{name: a, backend: openai, model: m, options: {{base_url: '{url}'}}}}\n"
    )
    result = run_dta("config", "validate", str(suite))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "credential" in result.stderr and "base_url" in result.stderr
    assert KEY not in result.stderr + result.stdout
    # and through the Python API, where a recipe is not in play
    with pytest.raises(ConfigError, match="base_url") as caught:
        create_generator("openai", "m", {"base_url": url})
    assert KEY not in str(caught.value)


def test_a_command_line_credential_never_reaches_run_json(tmp_path):
    from dta_edge.secrets import redact_argv

    plain = "Xq7plainSecretValue42"  # no known prefix: only its place in the URL gives it away
    argv = ["dta", "analyze", "pairwise", f"--judge-option=base_url=http://u:{plain}@h/v1",
            f"http://h/v1?key={plain}", f"https://h/v1?x=1&token={plain}"]  # fmt: skip
    assert plain not in " ".join(redact_argv(argv))


def test_a_profile_cannot_name_the_meter_program(tmp_path):
    marker = tmp_path / "ran"
    profile = tmp_path / "p.yaml"
    shipped = (REPO / "profiles" / "jetson-orin-nano.yaml").read_text()
    profile.write_text(
        shipped.replace("energy_meter: jetson", "energy_meter: tegrastats").replace(
            "meter_fallback: [tegrastats]", "meter_fallback: [cpu-time]"
        )
        + f"meter_options: {{command: [sh, -c, 'touch {marker}']}}\n"
    )
    validated = run_dta("config", "validate", str(profile))
    assert validated.returncode == 2 and "meter_options.command" in validated.stderr
    suite = REPO / "bench" / "demo.yaml"
    result = run_dta("bench", "--suite", str(suite), "--profile", str(profile),
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "command" in result.stderr
    assert not marker.exists()


def _custom_code_folder(folder: Path) -> Path:
    folder.mkdir()
    config = {"model_type": "qwen3", "auto_map": {"AutoModelForCausalLM": "evil.EvilModel"},
              "architectures": ["EvilModel"]}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"open({str(folder / 'ran')!r}, 'w').write('yes')\n")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("command", ["check", "train", "export", "bench"])
def test_a_folder_with_its_own_code_is_refused_never_prompted(tmp_path, command):
    folder = _custom_code_folder(tmp_path / "evil")
    if command == "check":
        args = ["model", "check", str(folder), "--out", str(tmp_path / "out"), "--n", "2"]
    elif command == "export":
        args = ["export", "--target", "cpu-onnx-int8", "--model", str(folder),
                "--out", str(tmp_path / "out")]  # fmt: skip
    elif command == "bench":
        suite = tmp_path / "suite.yaml"
        suite.write_text(
            "kind: bench-suite\nname: s\nproblems: {generate: {n: 2}}\nsystems:\n"
            f"  - {{name: a, backend: transformers, model: '{folder}'}}\n"
        )
        args = ["bench", "--suite", str(suite), "--out", str(tmp_path / "out")]
    else:
        data = tmp_path / "sft.jsonl"
        data.write_text('{"id": "a", "messages": [{"role": "user", "content": "q"}, '
                        '{"role": "assistant", "content": "a"}]}\n')  # fmt: skip
        recipe = tmp_path / "train.yaml"
        recipe.write_text(f"kind: train-recipe\nname: evil\nbase_model: {folder}\n")
        args = ["train", "--recipe", str(recipe), "--data", str(data),
                "--out", str(tmp_path / "out")]  # fmt: skip
    result = run_dta(*args, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "auto_map" in result.stderr and "Traceback" not in result.stderr
    assert not (folder / "ran").exists()
    assert "[y/N]" not in result.stdout + result.stderr  # never prompted


def test_every_model_load_goes_through_one_guarded_place():
    """from_pretrained is called in dta_edge/models/hf_load.py only (trust_remote_code=False)."""
    package = REPO / "dta_edge"
    offenders = [
        str(path.relative_to(REPO))
        for path in package.rglob("*.py")
        if path.name != "hf_load.py" and ".from_pretrained(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
    source = (package / "models" / "hf_load.py").read_text(encoding="utf-8")
    assert source.count("trust_remote_code=False") >= 2  # from_pretrained and from_config

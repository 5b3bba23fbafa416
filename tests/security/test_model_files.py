"""Model files are checked like config files: every GGUF a config names is opened with the
hardened header reader, transformers folders are read for config, code, weights and template.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from dta_edge.bench.suite import BenchSuite
from dta_edge.config import validate_mapping
from dta_edge.config_checks import check_references
from dta_edge.errors import ConfigError

from ..conftest import run_dta

U32, F32, STR, ARR, U64, U8 = 4, 6, 8, 9, 10, 0
TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, kind: int, payload: bytes) -> bytes:
    return _s(key) + struct.pack("<I", kind) + payload


def gguf(
    *, magic: bytes = b"GGUF", version: int = 3, kvs: list[bytes] | None = None,
    tensors: list[bytes] | None = None, n_kv: int | None = None, n_tensors: int | None = None,
    data: int = 128, cut: int = 0,
) -> bytes:  # fmt: skip
    """A GGUF v3 file: one 32-float tensor and a chat template unless told otherwise."""
    kvs = (
        kvs
        if kvs is not None
        else [
            _kv("general.architecture", STR, _s("llama")),
            _kv("tokenizer.chat_template", STR, _s(TEMPLATE)),
        ]
    )
    tensors = tensors if tensors is not None else [tensor()]
    head = magic + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                               len(kvs) if n_kv is None else n_kv)  # fmt: skip
    body = head + b"".join(kvs) + b"".join(tensors)
    body += b"\0" * (-len(body) % 32) + b"\0" * data
    return body[: len(body) - cut] if cut else body


def tensor(name: str = "t", dims: tuple[int, ...] = (32,), kind: int = 0, offset: int = 0) -> bytes:
    return (_s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            + struct.pack("<IQ", kind, offset))  # fmt: skip


def _nested_array(depth: int) -> bytes:
    payload = struct.pack("<IQ", U8, 1) + b"\1"
    for _ in range(depth):
        payload = struct.pack("<IQ", ARR, 1) + payload
    return payload


BROKEN = {
    "empty file": b"",
    "bad magic": b"GGUX" + gguf()[4:],
    "unsupported version": gguf(version=7),
    "truncated data": gguf(cut=64),
    "truncated metadata": gguf()[:30],
    "alignment 0": gguf(kvs=[_kv("general.alignment", U32, struct.pack("<I", 0))]),
    "alignment NaN": gguf(kvs=[_kv("general.alignment", F32, struct.pack("<f", float("nan")))]),
    "alignment string": gguf(kvs=[_kv("general.alignment", STR, _s("32"))]),
    "alignment 3": gguf(kvs=[_kv("general.alignment", U32, struct.pack("<I", 3))]),
    "2**62 metadata keys": gguf(n_kv=2**62),
    "2**62 tensors": gguf(n_tensors=2**62),
    "string longer than the file": gguf(kvs=[_kv("k", STR, struct.pack("<Q", 2**40) + b"ab")]),
    "array count beyond the file": gguf(kvs=[_kv("k", ARR, struct.pack("<IQ", U8, 2**40))]),
    "string array beyond the file": gguf(kvs=[_kv("k", ARR, struct.pack("<IQ", STR, 2**50))]),
    "arrays nested 10 deep": gguf(kvs=[_kv("k", ARR, _nested_array(10))]),
    "unknown value type": gguf(kvs=[_kv("k", 99, b"\0" * 8)]),
    "zero dimensions": gguf(tensors=[tensor(dims=())]),
    "nine dimensions": gguf(tensors=[tensor(dims=(1,) * 9)]),
    "unknown ggml type": gguf(tensors=[tensor(kind=999)]),
    "misaligned tensor": gguf(tensors=[tensor(offset=4)]),
    "tensor past the end": gguf(tensors=[tensor(offset=1 << 20)]),
    "no tensors": gguf(tensors=[]),
    "no chat template": gguf(kvs=[_kv("general.architecture", STR, _s("llama"))]),
    "hostile chat template": gguf(kvs=[_kv("tokenizer.chat_template", STR, _s(
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"))]),
}  # fmt: skip


def _suite(model: Path, backend: str = "llama-cpp") -> BenchSuite:
    data = {"kind": "bench-suite", "name": "s", "problems": {"generate": {"n": 2}},
            "systems": [{"name": "a", "backend": backend, "model": str(model)}]}  # fmt: skip
    return validate_mapping(BenchSuite, data, "suite.yaml")


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(BROKEN))
def test_validation_opens_every_gguf_a_config_names(tmp_path, name):
    path = tmp_path / "model.gguf"
    path.write_bytes(BROKEN[name])
    with pytest.raises(ConfigError) as caught:
        check_references(_suite(path), tmp_path / "suite.yaml")
    assert str(path) in str(caught.value) and "systems[0].model" in str(caught.value)


def test_a_sound_header_passes_validation(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(gguf())
    check_references(_suite(path), tmp_path / "suite.yaml")


@pytest.mark.timeout(180)
def test_the_cli_names_broken_ggufs_and_llama_cpps_own_refusal(tmp_path):
    suites = []
    for name in ("truncated data", "alignment 0", "no chat template"):
        path = tmp_path / f"{name.replace(' ', '-')}.gguf"
        path.write_bytes(BROKEN[name])
        suite = tmp_path / f"{path.stem}.yaml"
        suite.write_text(
            f"kind: bench-suite\nname: s\nproblems: {{generate: {{n: 2}}}}\n"
            f"systems:\n  - {{name: a, backend: llama-cpp, model: '{path}'}}\n"
        )
        suites.append((suite, path))  # fmt: skip
    result = run_dta("config", "validate", *(str(s) for s, _ in suites))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for _, path in suites:
        assert str(path) in result.stderr
    # a header llama.cpp reads but cannot load (no llama.* hyperparameters): its refusal is
    # one line naming the file, from the bench itself
    sound = tmp_path / "sound.gguf"
    sound.write_bytes(gguf())
    suite = tmp_path / "sound.yaml"
    suite.write_text(
        f"kind: bench-suite\nname: s\nproblems: {{generate: {{n: 2}}}}\nwarmup: 0\n"
        f"systems:\n  - {{name: a, backend: llama-cpp, model: '{sound}'}}\n"
    )
    bench = run_dta("bench", "--suite", str(suite), "--out", str(tmp_path / "out"))
    assert bench.returncode == 2, bench.stderr
    assert str(sound) in bench.stderr and "llama.cpp" in bench.stderr
    assert "Traceback" not in bench.stderr


def _folder(tiny_model_dir: Path, folder: Path, change: str) -> Path:
    shutil.copytree(tiny_model_dir, folder)
    if change == "pickle weights only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif change == "corrupt config.json":
        (folder / "config.json").write_text('{"model_type": "qwen3", ')
    elif change == "no chat template":
        (folder / "chat_template.jinja").unlink(missing_ok=True)
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config.pop("chat_template", None)
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    elif change == "custom code":
        config = json.loads((folder / "config.json").read_text())
        config["auto_map"] = {"AutoModelForCausalLM": "modeling.Evil"}
        (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "needle"),
    [("pickle weights only", "pickle"), ("corrupt config.json", "config.json"),
     ("no chat template", "no chat template"), ("custom code", "auto_map")],
)  # fmt: skip
def test_a_transformers_folder_is_read_at_validation(tmp_path, tiny_model_dir, change, needle):
    folder = _folder(tiny_model_dir, tmp_path / "model", change)
    with pytest.raises(ConfigError, match=needle):
        check_references(_suite(folder, "transformers"), tmp_path / "suite.yaml")
    result = run_dta("model", "check", str(folder), "--out", str(tmp_path / "c"), "--n", "2")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr

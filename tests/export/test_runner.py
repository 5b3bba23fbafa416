"""`dta export` end to end: targets, adapter merge, manifest, and errors a user can make."""

import json

import pytest

from dta_edge.config import load_config
from dta_edge.errors import ConfigError
from dta_edge.export.runner import sha256_of
from dta_edge.export.targets import ExportTarget
from dta_edge.layout import LOCK

from ..conftest import REPO, run_dta


def test_list_shows_shipped_targets():
    result = run_dta("export", "--list")
    assert result.returncode == 0, result.stderr
    for name in (
        "cpu-gguf-q8_0",
        "laptop-gpu-gguf-q4_k_m",
        "jetson-orin-gguf-q4_k_m",
        "cpu-onnx-int8",
        "laptop-gpu-onnx-int4",
        "server-hf-bf16",
    ):
        assert name in result.stdout


def test_every_target_names_an_existing_profile():
    for path in sorted((REPO / "export").glob("*.yaml")):
        target = load_config(path, ExportTarget)
        assert target.name == path.stem
        assert (REPO / target.profile).exists(), f"{path}: {target.profile}"


def test_quantization_must_fit_the_format(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text(
        "kind: export-target\nname: t\nformat: gguf\nquantization: bfloat16\nprofile: p\n"
    )
    with pytest.raises(ConfigError, match="quantization 'bfloat16' is not valid for gguf"):
        load_config(bad)


def test_provider_applies_to_onnx_only(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text(
        "kind: export-target\nname: t\nformat: gguf\nquantization: q8_0\nprovider: cuda\n"
        "profile: p\n"
    )
    with pytest.raises(ConfigError, match="provider 'cuda' applies to format onnx only"):
        load_config(bad)


@pytest.mark.slow
def test_cuda_onnx_target_exports_and_says_why_parity_waits(tiny_model_dir, tmp_path):
    """No CUDA provider here: the graph is written, and the manifest says parity was not run."""
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA: parity is measured, not skipped")
    out = tmp_path / "out"
    result = run_dta(
        "export", "--target", "laptop-gpu-onnx-int4", "--model", str(tiny_model_dir),
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"]["provider"] == "cuda" and manifest["parity"] == {}
    assert "CUDAExecutionProvider" in manifest["parity_unavailable"]
    config = json.loads((out / "onnx" / "genai_config.json").read_text())
    assert "cuda" in config["model"]["decoder"]["session_options"]["provider_options"][0]
    verify = run_dta("export", "verify", str(out))
    assert verify.returncode == 0, verify.stderr
    assert "parity not measured here" in verify.stdout


@pytest.mark.slow
def test_export_gguf_with_adapter_writes_a_complete_manifest(
    tiny_model_dir, lora_adapter, tmp_path
):
    out = tmp_path / "out"
    result = run_dta(
        "export", "--target", "cpu-gguf-q8_0", "--model", str(tiny_model_dir),
        "--adapter", str(lora_adapter), "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "gguf" and manifest["quantization"] == "q8_0"
    assert manifest["adapter"] == str(lora_adapter)
    parity = manifest["parity"]
    assert parity["merge_max_abs_logit_diff"] <= 1e-4
    assert parity["tokenization_identical"] == 1.0
    # The random LoRA perturbs the trained model (more near-tied logits), so Q8_0 agreement sits
    # just under the >= 99% that test_gguf asserts on the trained tiny model (measured 98.8%).
    assert parity["top1_agreement"] >= 0.97
    (exported,) = manifest["files"]
    path = out / exported["path"]
    assert path.name == "cpu-gguf-q8_0.gguf"
    assert exported["sha256"] == sha256_of(path) and exported["bytes"] == path.stat().st_size
    assert manifest["tools"]["llama_cpp_python"] and manifest["peak_rss_mib"] > 0
    hidden = [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != LOCK]
    assert not hidden  # no partial files left (the folder's lock file is not one)


def test_export_of_a_non_model_folder_exits_2(tmp_path):
    result = run_dta(
        "export",
        "--target",
        "cpu-gguf-q8_0",
        "--model",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
    )
    assert (
        result.returncode == 2
        and "no config.json" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_export_with_a_missing_tokenizer_exits_2(tiny_model_dir, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "tokenizer.json").unlink()
    result = run_dta(
        "export", "--target", "cpu-gguf-q8_0", "--model", str(model), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 2 and "tokenizer.json: missing" in result.stderr
    assert not (tmp_path / "o" / "cpu-gguf-q8_0.gguf").exists()


@pytest.mark.slow
def test_verify_passes_then_catches_a_tampered_file(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    export = run_dta(
        "export", "--target", "cpu-gguf-q8_0", "--model", str(tiny_model_dir), "--out", str(out)
    )
    assert export.returncode == 0, export.stderr
    ok = run_dta("export", "verify", str(out))
    assert ok.returncode == 0 and "verified" in ok.stdout, ok.stdout + ok.stderr
    gguf = out / "cpu-gguf-q8_0.gguf"
    data = bytearray(gguf.read_bytes())
    data[-1] ^= 0xFF
    gguf.write_bytes(bytes(data))
    tampered = run_dta("export", "verify", str(out))
    assert tampered.returncode == 1 and "content differs from the manifest" in tampered.stdout
    missing = run_dta("export", "verify", str(tmp_path))
    assert missing.returncode == 2 and "not a finished export folder" in missing.stderr


@pytest.mark.slow
def test_reexport_of_another_model_is_refused_then_replaced_cleanly(
    tiny_model_dir, lora_adapter, tmp_path
):
    import shutil

    out = tmp_path / "out"
    args = ("export", "--target", "cpu-gguf-q8_0", "--out", str(out))
    first = run_dta(*args, "--model", str(tiny_model_dir))
    assert first.returncode == 0, first.stderr
    manifest = (out / "manifest.json").read_text()
    other = run_dta(*args, "--model", str(tiny_model_dir), "--adapter", str(lora_adapter))
    assert other.returncode == 2 and "holds an export of another model" in other.stderr
    assert "adapter: None before" in other.stderr and "--overwrite" in other.stderr
    assert (out / "manifest.json").read_text() == manifest  # refused: nothing touched
    # --overwrite with a source that fails half way: the old model is gone from the final name
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "tokenizer.json").unlink()
    failed = run_dta(*args, "--model", str(broken), "--overwrite")
    assert failed.returncode == 2, failed.stderr
    assert not (out / "cpu-gguf-q8_0.gguf").exists() and not (out / "manifest.json").exists()
    replaced = run_dta(*args, "--model", str(tiny_model_dir), "--adapter", str(lora_adapter),
                       "--overwrite")  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((out / "manifest.json").read_text())["adapter"] == str(lora_adapter)

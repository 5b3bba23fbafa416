"""The streaming safetensors reader agrees with safetensors itself and rejects broken files."""

import numpy as np
import pytest

from dta_edge.errors import ExportError
from dta_edge.models.safetensors_stream import read_float32, read_index


def test_reads_every_dtype_like_safetensors(tmp_path):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    tensors = {
        "a.bf16": torch.randn(7, 5).to(torch.bfloat16),
        "b.f16": torch.randn(3, 4).to(torch.float16),
        "c.f32": torch.randn(11),
    }
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path))
    entries = {e.name: e for e in read_index(path)}
    assert set(entries) == set(tensors)
    for name, tensor in tensors.items():
        ours = read_float32(path, entries[name])
        assert ours.dtype == np.float32 and ours.shape == tuple(tensor.shape)
        assert np.array_equal(ours, tensor.float().numpy()), name  # widening is exact


def test_truncated_and_corrupt_files(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "t.safetensors"
    save_file({"w": torch.zeros(1000)}, str(path))
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:-100])
    with pytest.raises(ExportError, match="ends past the end"):
        read_index(cut)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    with pytest.raises(ExportError, match="corrupt safetensors header length"):
        read_index(bad)
    (tmp_path / "empty.safetensors").write_bytes(b"12")
    with pytest.raises(ExportError, match="no header"):
        read_index(tmp_path / "empty.safetensors")


def test_prefetch_asks_the_kernel_for_exactly_the_named_tensors(tmp_path, monkeypatch):
    """The next layer's bytes load during this one's work: the hint names their byte ranges."""
    import os
    import threading

    import torch
    from safetensors.torch import save_file

    from dta_edge.models import safetensors_stream
    from dta_edge.models.weights import CheckpointWeights

    save_file({"a": torch.zeros(64), "b": torch.ones(3, 8)}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    asked, done = [], threading.Event()

    def advise(fd, offset, length, how):
        asked.append((offset, length, how))
        done.set()

    monkeypatch.setattr(safetensors_stream.os, "posix_fadvise", advise, raising=False)
    weights = CheckpointWeights(tmp_path)
    weights.prefetch(["b", "not stored"])
    assert done.wait(10)
    entry = weights.entry("b")
    assert asked == [(entry.offset, entry.nbytes, os.POSIX_FADV_WILLNEED)]
    assert np.array_equal(weights.float32("b"), np.ones((3, 8), np.float32))

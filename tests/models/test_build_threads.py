"""The builder's thread count: the cores other processes leave free, and weights that do not
depend on it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import pytest

from dta_edge.models import build_threads
from dta_edge.models.build_threads import FreeCores

from ..conftest import REPO


class Machine:
    """A /proc/stat of two CPUs whose counters the test moves, with this process's clocks."""

    def __init__(self, path) -> None:
        self.path = path
        self.busy = [0, 0]  # ticks (1/100 s) per CPU
        self.own = 0.0
        self.now = 0.0
        self.write()

    def write(self) -> None:
        rows = [f"cpu  {sum(self.busy)} 0 0 0 0 0 0 0 0 0"]
        rows += [f"cpu{i} {b} 0 0 1000 0 0 0 0 0 0" for i, b in enumerate(self.busy)]
        self.path.write_text("\n".join(rows) + "\nintr 0\n")

    def run(self, seconds: float, others: float, own: float) -> None:
        """``seconds`` pass; other processes use ``others`` cores, this one ``own``."""
        ticks = round((others + own) * seconds * 100)
        self.busy[0] += ticks // 2
        self.busy[1] += ticks - ticks // 2
        self.own += own * seconds
        self.now += seconds
        self.write()


@pytest.fixture
def machine(tmp_path, monkeypatch):
    monkeypatch.setattr(build_threads, "allowed_cpus", lambda: {0, 1})
    found = Machine(tmp_path / "stat")
    return found, FreeCores(stat=found.path, own_cpu_s=lambda: found.own,
                            clock=lambda: found.now, sleep=found_sleep(found))  # fmt: skip


def found_sleep(machine: Machine):
    return lambda seconds: machine.run(seconds, 0.0, 0.0)


@pytest.mark.parametrize(
    ("others", "own", "threads"),
    [
        (0.0, 2.0, 2),  # quiet: both cores, our own two threads not counted against us
        (0.1, 1.0, 2),  # a little background noise
        (1.0, 1.0, 1),  # one busy core beside us
        (0.67, 1.33, 1),  # oversubscribed: the other job gets 2/3 of a core from three threads
        (0.4, 1.0, 1),  # a core others use 40% of is not free
        (2.0, 0.0, 1),  # both cores taken: still one thread, never none
    ],
)
def test_threads_follow_what_others_use(machine, others, own, threads):
    state, free = machine
    state.run(5.0, others, own)
    assert free.threads() == threads


def test_a_new_job_beside_the_build_is_seen_at_the_next_reading(machine):
    state, free = machine
    state.run(4.0, 0.0, 2.0)
    assert free.threads() == 2
    state.run(4.0, 1.0, 1.0)
    assert free.threads() == 1
    state.run(4.0, 0.0, 1.0)  # the other job ended
    assert free.threads() == 2


def test_a_reading_right_after_the_last_waits_out_a_short_window(machine):
    state, free = machine
    assert free.threads() == 2
    assert state.now == pytest.approx(build_threads.MIN_WINDOW_S)


def test_without_counters_every_allowed_core_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(build_threads, "allowed_cpus", lambda: {0, 1, 2, 3})
    assert FreeCores(stat=tmp_path / "missing").threads() == 4
    assert FreeCores(2, stat=tmp_path / "missing").threads() == 2  # torch's own count caps it


@pytest.mark.skipif(len(build_threads.allowed_cpus()) != 2, reason="needs exactly 2 CPUs")
def test_a_spinning_process_takes_a_core_on_this_machine():
    """The real counters: a process spinning one of two cores leaves one thread."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        free = FreeCores()
        assert free.threads() == 1
    finally:
        spinner.kill()
        spinner.wait()


BUILD = """
import hashlib, sys
from pathlib import Path
import torch
from dta_edge.models.tiny import build_tiny_model
from dta_edge.models.tiny_config import TinyModelConfig
torch.set_num_threads(int(sys.argv[1]))
config = TinyModelConfig(steps=8, corpus_problems=300)
info = build_tiny_model(config, Path(sys.argv[2]), threads=int(sys.argv[1]))
print(hashlib.sha256((Path(sys.argv[2]) / "model.safetensors").read_bytes()).hexdigest())
"""


@pytest.mark.slow
def test_the_weights_do_not_depend_on_the_thread_count(tmp_path):
    """What lets the count follow the load: 1 and 2 threads build bit-identical weights."""
    digests = set()
    for threads in (1, 2):
        done = subprocess.run(
            [sys.executable, "-c", BUILD, str(threads), str(tmp_path / str(threads))],
            capture_output=True, text=True, cwd=REPO, check=True,
        )  # fmt: skip
        digests.add(done.stdout.strip().splitlines()[-1])
    assert len(digests) == 1
    assert len(hashlib.sha256().hexdigest()) == len(digests.pop())


def test_two_processes_building_one_model_keep_the_first(tmp_path, monkeypatch):
    """Test workers share the model cache: the one that renames second keeps the first's build,
    even when the other's build lands between the check and the rename."""
    from pathlib import Path

    from dta_edge.models import tiny
    from dta_edge.models.tiny_config import TinyModelConfig

    config = TinyModelConfig(steps=1)
    final = tmp_path / config.cache_key()

    def build(_config, staging, _on_step=None):
        (staging / "model.safetensors").write_text("mine")
        return {"cache_key": "k"}

    rename = Path.rename

    def racing_rename(self, target):
        if Path(target) == final and not final.exists():  # the other worker wins just now
            final.mkdir()
            (final / "model.safetensors").write_text("theirs")
            (final / tiny.BUILD_INFO).write_text('{"cache_key": "k"}')
        return rename(self, target)

    monkeypatch.setattr(tiny, "build_tiny_model", build)
    monkeypatch.setattr(Path, "rename", racing_rename)
    found = tiny.tiny_model(config, cache_dir=tmp_path)
    assert found.path == final and (final / "model.safetensors").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == [final.name]  # no staging folder left

"""JSONL writing, reading and resume; atomic whole-file writes; survival of SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dta_edge.errors import RecordError
from dta_edge.records import Completion
from dta_edge.storage import JsonlWriter, atomic_write_text, read_jsonl, write_jsonl


def completion(i: int) -> Completion:
    return Completion(request_id=f"p{i:05d}", sample_index=0, text=f"answer {i}")


def test_writer_appends_and_resumes_without_duplicates(tmp_path):
    path = tmp_path / "c.jsonl"
    with JsonlWriter(path, Completion) as writer:
        assert writer.write_all(completion(i) for i in range(5)) == 5
    with JsonlWriter(path, Completion) as writer:
        assert writer.done == {f"p{i:05d}#0" for i in range(5)}
        assert writer.write_all(completion(i) for i in range(8)) == 3
    assert [c.request_id for c in read_jsonl(path, Completion)] == [f"p{i:05d}" for i in range(8)]


def test_writer_cuts_torn_tail(tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, [completion(0), completion(1)])
    with path.open("a") as handle:
        handle.write('{"request_id": "p00002", "sample_in')  # what a crash mid-write leaves
    with pytest.raises(RecordError, match=r"c\.jsonl:3"):
        read_jsonl(path, Completion)
    assert len(read_jsonl(path, Completion, tolerate_torn_tail=True)) == 2
    with JsonlWriter(path, Completion) as writer:
        assert writer.torn_bytes > 0
        writer.write(completion(2))
    assert [c.request_id for c in read_jsonl(path, Completion)] == ["p00000", "p00001", "p00002"]


def test_reader_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        completion(0).model_dump_json() + "\n" + json.dumps({"request_id": "x", "text": 5}) + "\n"
    )
    with pytest.raises(RecordError) as info:
        read_jsonl(path, Completion)
    assert f"{path}:2" in str(info.value) and "text" in str(info.value)


def test_reader_rejects_bad_line_in_the_middle_even_when_tolerant(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json}\n" + completion(0).model_dump_json() + "\n")
    with pytest.raises(RecordError, match=r"bad\.jsonl:1: not valid JSON"):
        read_jsonl(path, Completion, tolerate_torn_tail=True)


def test_writer_outside_with_block_fails(tmp_path):
    writer = JsonlWriter(tmp_path / "x.jsonl", Completion)
    with pytest.raises(RuntimeError):
        writer.write(completion(0))


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp file left behind


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, "old")

    with pytest.raises(TypeError):
        atomic_write_text(path, object())  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


WRITER_SCRIPT = """
import sys, time
from dta_edge.records import Completion
from dta_edge.storage import JsonlWriter
path, total = sys.argv[1], int(sys.argv[2])
with JsonlWriter(path, Completion) as writer:
    for i in range(total):
        record = Completion(request_id=f"p{i:05d}", sample_index=0, text="x" * (i % 400))
        if writer.write(record):
            time.sleep(0.0005)
"""


@pytest.mark.slow
def test_sigkill_mid_stream_then_resume_loses_and_duplicates_nothing(tmp_path):
    path = tmp_path / "stream.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    total = 3000
    process = subprocess.Popen([sys.executable, str(script), str(path), str(total)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 150_000:
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    written_before = len(path.read_bytes().splitlines())
    assert 0 < written_before < total, "the writer must be killed mid-stream"
    # Make the crash tear a record for certain, whatever byte the kill landed on.
    with path.open("a") as handle:
        handle.write('{"request_id": "p99999", "te')
    resumed = subprocess.run([sys.executable, str(script), str(path), str(total)], timeout=120)
    assert resumed.returncode == 0
    ids = [c.request_id for c in read_jsonl(path, Completion)]
    assert len(ids) == total, f"lost {total - len(set(ids))} records"
    assert len(set(ids)) == total, f"duplicated {len(ids) - len(set(ids))} records"
    assert set(ids) == {f"p{i:05d}" for i in range(total)}


def test_write_jsonl_round_trip(tmp_path: Path):
    records = [completion(i) for i in range(3)]
    write_jsonl(tmp_path / "r.jsonl", records)
    assert read_jsonl(tmp_path / "r.jsonl", Completion) == records

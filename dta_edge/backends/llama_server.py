"""llama-cpp-python's OpenAI-compatible server on 127.0.0.1, as a context manager.

The demo's remote teacher, the tests' real server and the throughput benchmark all start it the
same way: a free loopback port, bounded start-up, stopped on exit.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dta_edge.errors import DtaError


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_gguf(
    gguf: Path, *, alias: str = "tiny", n_ctx: int = 1024, n_threads: int | None = None,
    start_timeout_s: float = 60.0, logits_all: bool = False,
) -> Iterator[str]:  # fmt: skip
    """Serve ``gguf`` on a free loopback port; yield the base URL (.../v1).

    llama-cpp-python's server answers one request at a time: a second request in flight cuts
    the first short (1-2 tokens come back), and with ``--interrupt_requests False`` queued
    requests deadlock. Clients of this server keep concurrency at 1. ``logits_all`` keeps the
    logits of every prompt position, which prompt log-probabilities (echo + logprobs) need.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias,
    ]  # fmt: skip
    if n_threads:
        command += ["--n_threads", str(n_threads)]
    if logits_all:
        command += ["--logits_all", "true"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    tail = server.stderr.read()[-400:] if server.stderr else b""
                    raise DtaError(f"llama.cpp server on {gguf} did not start: {tail!r}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

"""The async HTTP client against raw servers: body framing, hostile chunking, TLS, a CONNECT proxy.

The fault server (http.server) answers HTTP/1.0 style, its body ended by the connection
closing; uvicorn, and so vLLM, streams ``Transfer-Encoding: chunked``. Each server here writes
the exact bytes a case needs, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from dta_edge.backends.base import GenerationRequest, SamplingSettings
from dta_edge.backends.http_transport import HttpClient, HttpStatus, Limits, TransportError
from dta_edge.backends.openai_backend import ServerError
from dta_edge.backends.registry import create_generator
from dta_edge.records import ChatMessage

LIMITS = Limits(read_timeout_s=2.0, deadline_s=5.0, max_body_bytes=2**20, max_line_bytes=4096)
EVENTS = b"".join(
    b"data: " + json.dumps(e).encode() + b"\n\n"
    for e in (
        {"choices": [{"delta": {"content": "The answer "}}]},
        {"choices": [{"delta": {"content": "is \\boxed{42}."}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
    )
) + b"data: [DONE]\n\n"  # fmt: skip
REQUEST = GenerationRequest(
    messages=(ChatMessage(role="user", content="What is 6 x 7?"),),
    sampling=SamplingSettings(max_tokens=8),
)


def chunked(body: bytes, size: int) -> bytes:
    """``body`` in chunks of ``size`` bytes, with a chunk extension and a trailer."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    out = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in pieces)
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def serve_once(answer: bytes, *, keep_open: bool = False):
    """A server that reads one request and writes ``answer``; (url, requests seen)."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        length = int(request.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        seen.append(request + await reader.readexactly(length))
        writer.write(answer)
        await writer.drain()
        if keep_open:  # a server that never ends the body: only the framing says where it ends
            await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/completions", seen


async def fetch(answer: bytes, *, lines: bool = False, keep_open: bool = False, limits=LIMITS):
    server, url, seen = await serve_once(answer, keep_open=keep_open)
    try:
        reply = await HttpClient(limits).post(url, b'{"a": 1}', {"Content-Type": "x"})
        try:
            if lines:
                got = []
                while line := await reply.readline():
                    got.append(line)
                return got, seen
            return await reply.body(), seen
        finally:
            reply.close()
    finally:
        server.close()


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_a_chunked_stream_reads_as_its_lines(size):
    answer = head(Transfer_Encoding="chunked", Content_Type="text/event-stream")
    got, seen = asyncio.run(fetch(answer + chunked(EVENTS, size), lines=True, keep_open=True))
    assert b"".join(got) == EVENTS
    assert got[-2:] == [b"data: [DONE]\n", b"\n"]
    assert seen[0].startswith(b"POST /v1/completions HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in seen[0] and seen[0].endswith(b'{"a": 1}')


def test_content_length_ends_the_body_on_an_open_connection():
    body = b'{"choices": []}'
    got, _ = asyncio.run(fetch(head(Content_Length=str(len(body))) + body, keep_open=True))
    assert got == body


def test_interim_answers_are_skipped():
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + head(Content_Length="2") + b"{}"
    assert asyncio.run(fetch(answer))[0] == b"{}"


@pytest.mark.parametrize(
    ("answer", "needle", "retryable"),
    [
        # a chunk-size line that never ends: bounded like a header line
        (head(Transfer_Encoding="chunked") + b"f" * 200_000, "chunk-size line passed", False),
        (head(Transfer_Encoding="chunked") + b"zz\r\nab\r\n", "ValueError", True),
        # chunks adding up past the body cap, each one small
        (
            head(Transfer_Encoding="chunked") + chunked(b"x" * (2**20 + 10), 60_000),
            "passed 1 MiB",
            False,
        ),  # fmt: skip
        # a declared length the body never reaches
        (head(Content_Length="100") + b"short", "broke mid-response", True),
        (head(Content_Length="-5") + b"", "malformed Content-Length", True),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: y\r\n" * 10_000 + b"\r\n", "headers passed", False),
        (b"SMTP ready\r\n\r\n", "malformed status line", True),
    ],
)
def test_a_hostile_answer_is_a_bounded_error(answer, needle, retryable):
    with pytest.raises(TransportError, match=needle) as caught:
        asyncio.run(fetch(answer))
    assert caught.value.retryable is retryable


def test_a_refusal_keeps_4_kib_of_its_body():
    answer = head("503 Busy", Retry_After="3", Content_Length="10000") + b"e" * 10_000
    with pytest.raises(HttpStatus) as caught:
        asyncio.run(fetch(answer))
    assert caught.value.code == 503 and caught.value.retry_after == "3"
    assert caught.value.body == b"e" * 4096


def test_silence_past_the_read_timeout_is_a_retryable_error():
    quick = Limits(read_timeout_s=0.2, deadline_s=0.6, max_body_bytes=2**20, max_line_bytes=4096)
    with pytest.raises(TransportError, match="no byte for 0.2 s") as caught:
        asyncio.run(fetch(head(Content_Length="10") + b"12", keep_open=True, limits=quick))
    assert caught.value.retryable


def test_a_header_with_a_line_break_is_never_sent():
    async def attempt():
        server, url, seen = await serve_once(head(Content_Length="0"))
        try:
            await HttpClient(LIMITS).post(url, b"", {"Authorization": "Bearer k\r\nX-Evil: 1"})
        finally:
            server.close()
        return seen

    with pytest.raises(TransportError, match="line break"):
        asyncio.run(attempt())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    """A self-signed certificate for localhost (the test's own CA)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder


def test_https_through_a_connect_proxy_keeps_the_key_encrypted(certificate, monkeypatch):
    """https_proxy tunnels (CONNECT); the proxy sees the host, never the request or the key."""
    import threading

    proxied: list[bytes] = []
    ready = threading.Event()
    ports: dict[str, int] = {}
    stop: list[asyncio.AbstractEventLoop] = []

    async def tls_server(reader, writer):
        request = await reader.readuntil(b"\r\n\r\n")
        length = int(request.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(head(Transfer_Encoding="chunked") + chunked(EVENTS, 16))
        await writer.drain()
        writer.close()

    async def pipe(reader, writer):
        while data := await reader.read(65536):
            proxied.append(data)
            writer.write(data)
            await writer.drain()
        writer.close()

    async def proxy(reader, writer):
        request = await reader.readuntil(b"\r\n\r\n")
        proxied.append(request)
        target = request.split()[1].decode()
        assert target == f"localhost:{ports['tls']}"
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", ports["tls"])
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def serve() -> None:
        loop = asyncio.new_event_loop()
        stop.append(loop)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
        tls = loop.run_until_complete(asyncio.start_server(tls_server, "127.0.0.1", 0,
                                                           ssl=context))  # fmt: skip
        plain = loop.run_until_complete(asyncio.start_server(proxy, "127.0.0.1", 0))
        ports["tls"] = tls.sockets[0].getsockname()[1]
        ports["proxy"] = plain.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate / "cert.pem"))
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{ports['proxy']}")
    monkeypatch.setenv("DTA_TLS_KEY", "sk-tunnel-secret-5150")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    options = {"base_url": f"https://localhost:{ports['tls']}/v1", "api_key_env": "DTA_TLS_KEY",
               "retries": 0}  # fmt: skip
    generator = create_generator("openai", "m", options)
    try:
        answer = generator.generate(REQUEST)[0]
    finally:
        generator.close()
        loop = stop[0]
        loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert answer.text == "The answer is \\boxed{42}." and answer.output_tokens == 2
    assert proxied[0].startswith(f"CONNECT localhost:{ports['tls']} HTTP/1.1".encode())
    assert b"sk-tunnel-secret" not in b"".join(proxied) and b"POST" not in b"".join(proxied[1:])


def test_https_straight_to_a_trusted_server_streams_chunked(certificate, monkeypatch):
    """A hosted endpoint's path: TLS with no proxy, the key sent, a chunked event stream back."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    seen: list[bytes] = []

    async def attempt() -> bytes:
        async def handle(reader, writer):
            request = await reader.readuntil(b"\r\n\r\n")
            seen.append(request)
            length = int(request.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(head(Transfer_Encoding="chunked") + chunked(EVENTS, 5))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        try:
            url = f"https://localhost:{port}/v1/completions"
            reply = await HttpClient(LIMITS).post(url, b"{}", {"Authorization": "Bearer sk-1"})
            try:
                return await reply.body()
            finally:
                reply.close()
        finally:
            server.close()

    monkeypatch.setenv("SSL_CERT_FILE", str(certificate / "cert.pem"))
    for name in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert asyncio.run(attempt()) == EVENTS
    assert b"\r\nAuthorization: Bearer sk-1\r\n" in seen[0]
    assert b"\r\nHost: localhost:" in seen[0]


def test_a_certificate_the_client_does_not_trust_is_refused(certificate, monkeypatch):
    """Without the test's CA the TLS handshake fails: a failed request, never plain text."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")

    async def attempt() -> None:
        async def handle(reader, writer):
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        try:
            await HttpClient(LIMITS).post(f"https://localhost:{port}/v1", b"", {})
        finally:
            server.close()

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    for name in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
        asyncio.run(attempt())


def test_a_blocking_call_from_the_clients_own_loop_is_refused():
    """generate() inside a coroutine run on the client's loop would wait on itself forever."""
    generator = create_generator("openai", "m", {"base_url": "http://127.0.0.1:9/v1"})

    async def inside():
        return generator.generate(REQUEST)

    try:
        with pytest.raises(RuntimeError, match="its own event loop"):
            generator.run(inside())
    finally:
        generator.close()


def test_a_closed_client_starts_a_fresh_loop_on_its_next_request():
    from ..backends.fault_server import FaultServer

    server = FaultServer([])
    try:
        generator = create_generator("openai", "m", {"base_url": server.base_url,
                                                     "concurrency": 2})  # fmt: skip
        first = generator.generate(REQUEST)[0].text
        generator.close()
        second = generator.generate(REQUEST.model_copy(update={"sampling": SamplingSettings(
            max_tokens=8, n=3)}))  # fmt: skip
        generator.close()
    finally:
        server.close()
    assert first == "The answer is \\boxed{42}."
    assert [g.text for g in second] == [first] * 3


def test_server_error_names_the_url_not_the_key(monkeypatch):
    monkeypatch.setenv("DTA_REFUSED_KEY", "sk-refused-777")
    generator = create_generator(
        "openai", "m", {"base_url": "http://127.0.0.1:9/v1", "retries": 0,
                        "api_key_env": "DTA_REFUSED_KEY"},
    )  # fmt: skip
    try:
        with pytest.raises(ServerError, match="127.0.0.1:9") as caught:
            generator.generate(REQUEST)
    finally:
        generator.close()
    assert "sk-refused" not in str(caught.value)


def test_a_forked_child_gets_a_loop_of_its_own():
    """A client used before a fork still answers in the child (the loop thread is not copied)."""
    import os
    import signal

    from ..backends.fault_server import FaultServer

    server = FaultServer([])
    generator = create_generator("openai", "m", {"base_url": server.base_url})
    try:
        assert generator.generate(REQUEST)[0].text == "The answer is \\boxed{42}."
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            signal.alarm(20)  # a child waiting on a loop that was not copied dies, never hangs
            try:
                os.write(write_end, generator.generate(REQUEST)[0].text.encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as answer:
            text = answer.read().decode()
        os.waitpid(child, 0)
    finally:
        generator.close()
        server.close()
    assert text == "The answer is \\boxed{42}."

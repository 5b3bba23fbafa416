"""One HTTP POST to a server we do not control, bounded in time and size, its key kept home.

Standard library only (asyncio streams), so no client package is pinned against vLLM's. The
client runs on one event loop (:mod:`dta_edge.backends.event_loop`): a request in flight is a
coroutine, not a thread. What a hostile or broken server can no longer do:

- keep a request open forever: a whole-request deadline and a per-read timeout, enforced by one
  timer per request that aborts the connection (a server sending one byte every few seconds
  never trips the read timeout, and still meets the deadline);
- exhaust memory: caps on the headers, the body, one chunk-size line and one line of a stream;
- collect the API key: a redirect is followed only within the origin (scheme, host, port) the
  request was sent to; a redirect elsewhere is an error, and the key is never sent there.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from dta_edge.secrets import origin

T = TypeVar("T")

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
HEAD_LIMIT = 64 * 1024  # a status line and its headers; also one chunk-size line
ERROR_BODY = 4096  # bytes of a refusal's body kept for the error message


@dataclass(frozen=True)
class Limits:
    """How long and how much one request may take."""

    read_timeout_s: float  # one socket read (also the connect)
    deadline_s: float  # the whole request: connect, headers, every byte of the body
    max_body_bytes: int  # a whole answer, streamed or not
    max_line_bytes: int  # one line of a server-sent event stream
    max_redirects: int = 5


class TransportError(Exception):
    """The exchange failed; ``retryable`` says whether asking again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class HttpStatus(Exception):
    """The server answered with a status that is not 2xx (and not a redirect we follow)."""

    def __init__(self, code: int, retry_after: str | None, body: bytes) -> None:
        super().__init__(f"HTTP {code}")
        self.code = code
        self.retry_after = retry_after
        self.body = body


class _Clock:
    """The request's two limits on one timer: the deadline, and silence longer than a read.

    Whichever passes first aborts the connection; the pending read then ends, and
    :meth:`check` turns that into the error that says which limit it was. A read only stamps
    the time, so the timer costs nothing per chunk.
    """

    def __init__(self, limits: Limits, deadline: float, transport: asyncio.Transport) -> None:
        self._loop = asyncio.get_running_loop()
        self._limits = limits
        self._deadline = deadline
        self._transport = transport
        self.expired: str | None = None  # "deadline" or "read"
        self.touch()
        self._timer = self._loop.call_at(self._next(), self._fire)

    def touch(self) -> None:
        """Bytes arrived: the read timeout counts from now."""
        self._last = self._loop.time()

    def check(self) -> None:
        """Raise the limit that aborted the connection, if one did."""
        if self.expired == "deadline":
            raise _over_deadline(self._limits)
        if self.expired == "read":
            raise TransportError(
                f"no byte for {self._limits.read_timeout_s:g} s (timeout_s)", retryable=True
            )

    def stop(self) -> None:
        self._timer.cancel()

    def _next(self) -> float:
        return min(self._deadline, self._last + self._limits.read_timeout_s)

    def _fire(self) -> None:
        now = self._loop.time()
        if now >= self._deadline:
            self.expired = "deadline"
        elif now >= self._last + self._limits.read_timeout_s:
            self.expired = "read"
        else:
            self._timer = self._loop.call_at(self._next(), self._fire)
            return
        self._transport.abort()


def _over_deadline(limits: Limits) -> TransportError:
    return TransportError(
        f"no complete answer within {limits.deadline_s:g} s (request_timeout_s, the whole "
        "request); not waited for further", retryable=False,
    )  # fmt: skip


def _broken(exc: BaseException) -> TransportError:
    return TransportError(f"connection broke mid-response ({type(exc).__name__})", retryable=True)


class Reply:
    """An open 2xx response: read it whole or line by line, within the limits; then close it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, clock: _Clock,
        limits: Limits, framing: _Framing,
    ) -> None:  # fmt: skip
        self._reader = reader
        self._writer = writer
        self._clock = clock
        self._limits = limits
        self._framing = framing
        self._received = 0
        self._lines: deque[bytes] = deque()
        self._pending = b""
        self._ended = False

    async def _read(self) -> bytes:
        """The next piece of the body (b'' at its end), within the deadline and the cap."""
        try:
            chunk = await self._framing.read(self._reader)
        except TransportError:
            self._clock.check()
            raise
        except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
            self._clock.check()
            raise _broken(exc) from None
        self._clock.check()  # an aborted connection reads as the end of the body
        self._clock.touch()
        self._received += len(chunk)
        if self._received > self._limits.max_body_bytes:
            raise TransportError(
                f"the answer passed {self._limits.max_body_bytes / 2**20:g} MiB "
                "(max_response_mib); not read further", retryable=False,
            )  # fmt: skip
        return chunk

    async def body(self, limit: int | None = None) -> bytes:
        """The whole body (at most ``max_body_bytes``; with ``limit``, its first bytes)."""
        parts, size = [], 0
        while chunk := await self._read():
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        return b"".join(parts)[:limit]

    async def readline(self) -> bytes:
        """The next line of the body (newline kept; b'' at its end), within the line cap.

        A coroutine, not an async generator: a generator left unfinished at ``[DONE]`` costs a
        finalizer task per request when it is collected.
        """
        while not self._lines:
            if self._ended:
                line, self._pending = self._pending, b""
                return line
            chunk = await self._read()
            if not chunk:
                self._ended = True
                continue
            pieces = (self._pending + chunk).split(b"\n")
            self._pending = pieces.pop()
            self._lines.extend(piece + b"\n" for piece in pieces)
            if len(self._pending) > self._limits.max_line_bytes:
                raise TransportError(
                    f"one line of the stream passed {self._limits.max_line_bytes / 1024:g} KiB "
                    "(max_line_kib); not read further", retryable=False,
                )  # fmt: skip
        return self._lines.popleft()

    def close(self) -> None:
        """Drop the connection (one request per connection) and its timer."""
        self._clock.stop()
        self._writer.transport.abort()


class _Framing:
    """How the body's end is known: a length, chunks, or the connection closing."""

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        raise NotImplementedError


class _UntilClose(_Framing):
    async def read(self, reader: asyncio.StreamReader) -> bytes:
        return await reader.read(CHUNK)


class _Length(_Framing):
    def __init__(
        self, length: int, short: str = "the body ended before its Content-Length"
    ) -> None:
        self.left = length
        self._short = short  # what a connection closing early means

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        if self.left == 0:
            return b""
        chunk = await reader.read(min(CHUNK, self.left))
        if not chunk:
            raise EOFError(self._short)
        self.left -= len(chunk)
        return chunk


class _Chunked(_Framing):
    """``Transfer-Encoding: chunked`` (what uvicorn, and so vLLM, streams with).

    Each chunk's data is read as a length-framed piece of its own.
    """

    def __init__(self) -> None:
        self._chunk: _Length | None = None
        self._done = False

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        if self._done:
            return b""
        if self._chunk is None or self._chunk.left == 0:
            if self._chunk is not None and await reader.readexactly(2) != b"\r\n":
                raise ValueError("a chunk not followed by CRLF")
            line = await _line(reader)
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise ValueError("a malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                while await _line(reader) not in (b"\r\n", b"\n"):
                    pass  # trailers, each bounded like a header line
                self._done = True
                return b""
            self._chunk = _Length(size, "the body ended inside a chunk")
        return await self._chunk.read(reader)


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise TransportError(
            f"a header or chunk-size line passed {HEAD_LIMIT // 1024} KiB; not read further",
            retryable=False,
        ) from None


@dataclass(frozen=True)
class _Head:
    status: int
    headers: dict[str, str]  # lower-case names; repeated ones joined with ", "

    def framing(self) -> _Framing:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return _Chunked()
        length = self.headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise TransportError(f"a malformed Content-Length ({length[:40]!r})",
                                     retryable=True)  # fmt: skip
            return _Length(int(length))
        if self.status in (204, 304):
            return _Length(0)
        return _UntilClose()


async def _read_head(reader: asyncio.StreamReader) -> _Head:
    """The status and headers, skipping interim 1xx answers."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise TransportError(
                f"the answer's headers passed {HEAD_LIMIT // 1024} KiB; not read further",
                retryable=False,
            ) from None
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise TransportError(f"a malformed status line ({lines[0][:80]!r})", retryable=True)
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else (
                    value.strip())  # fmt: skip
        if not 100 <= status < 200:
            return _Head(status, headers)


Proxy = tuple[str, int] | None


def _proxy_for(url: str) -> Proxy:
    """The HTTP(S) proxy the environment names for ``url`` (as urllib would use), or None."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    found = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return (found.hostname, found.port or 80) if found.hostname else None


@dataclass(frozen=True)
class _Target:
    """A URL read once: where to connect, what to ask for, and the origin its key belongs to."""

    url: str
    home: tuple[str, str, int]  # (scheme, host, port): what a redirect may not leave
    path: str  # the request target: path and query
    host_header: str

    @property
    def https(self) -> bool:
        return self.home[0] == "https"

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urlsplit(url)
        home = origin(url)
        host = home[1] if ":" not in home[1] else f"[{home[1]}]"
        if parts.port and parts.port != (443 if home[0] == "https" else 80):
            host = f"{host}:{parts.port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(url, home, path, host)


async def _open(
    target: _Target, proxy: Proxy, context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    """A connection for ``target`` (through ``proxy``, if any) and the request target.

    Through a proxy, https is tunnelled (CONNECT) and http asks for the absolute URL; either way
    the origin checks apply to the URL, never to the proxy.
    """
    _scheme, host, port = target.home
    if proxy is None:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context if target.https else None, limit=HEAD_LIMIT
        )
        return reader, writer, target.path
    if not target.https:
        reader, writer = await asyncio.open_connection(*proxy, limit=HEAD_LIMIT)
        return reader, writer, target.url
    tunnel = await _tunnel(proxy, host, port)
    reader, writer = await asyncio.open_connection(
        sock=tunnel, ssl=context, server_hostname=host, limit=HEAD_LIMIT
    )
    return reader, writer, target.path


async def _tunnel(proxy: tuple[str, int], host: str, port: int) -> socket.socket:
    """A socket to ``host:port`` through the proxy's CONNECT, ready for TLS."""
    loop = asyncio.get_running_loop()
    family, kind, proto, _name, address = (await loop.getaddrinfo(*proxy, type=socket.SOCK_STREAM))[
        0
    ]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, address)
        await loop.sock_sendall(
            sock, f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            data = await loop.sock_recv(sock, 4096)
            if not data:
                raise ConnectionError("the proxy closed the tunnel")
            head += data
            if len(head) > HEAD_LIMIT:
                raise ConnectionError("the proxy's answer to CONNECT has no end")
        status = head.split(b"\r\n", 1)[0].split(None, 2)
        if len(status) < 2 or status[1] != b"200":
            raise ConnectionError(f"the proxy refused the tunnel ({head[:80]!r})")
        if not head.endswith(b"\r\n\r\n"):
            raise ConnectionError("the proxy sent bytes after its answer to CONNECT")
    except BaseException:
        sock.close()
        raise
    return sock


def _request_head(host: str, path: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}",
             "Connection: close", "Accept-Encoding: identity"]  # fmt: skip
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n\0"):
            raise TransportError(f"the {name} header holds a line break; not sent",
                                 retryable=False)  # fmt: skip
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="strict")


def _follow(url: str, status: int, location: str | None, home: tuple[str, str, int]) -> str:
    """Where a redirect leads, if it stays in ``home``'s origin.

    Raises:
        TransportError: no Location, or a Location in another origin (never followed).
    """
    if not location:
        raise TransportError(f"HTTP {status} without a Location", retryable=False)
    following = urljoin(url, location)
    if origin(following) != home:
        scheme, host, port = origin(following)
        raise TransportError(
            f"redirected (HTTP {status}) to another origin ({scheme}://{host}:{port}); not "
            f"followed, so the API key never leaves {home[0]}://{home[1]}:{home[2]}. Point "
            "base_url at the final address if you trust it", retryable=False,
        )  # fmt: skip
    return following


class HttpClient:
    """POSTs within ``limits``, on the running event loop; the environment's proxies read once.

    Reading the proxy variables walks the whole environment, and taking a URL apart costs a
    dozen property reads; at a thousand requests a second both showed, so each URL is read once
    (:class:`_Target`) and each origin's proxy looked up on first use.
    """

    KEPT_TARGETS = 256  # URLs read and kept (endpoints and their same-origin redirects)

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._proxies: dict[tuple[str, str, int], Proxy] = {}
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, payload: bytes, headers: dict[str, str]) -> Reply:
        """POST ``payload`` to ``url``; the open 2xx reply, following same-origin redirects only.

        Raises:
            HttpStatus: a status neither 2xx nor a followed redirect (body capped at 4 KiB).
            TransportError: the connection failed (retryable), the deadline passed, a redirect
                left the origin or looped (not retryable).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.deadline_s
        target = self._target(url)
        home = target.home
        for _hop in range(self.limits.max_redirects + 1):
            reply, head = await self._exchange(target, payload, headers, deadline)
            if head.status in REDIRECTS:
                reply.close()
                target = self._target(
                    _follow(target.url, head.status, head.headers.get("location"), home)
                )
                continue
            if not 200 <= head.status < 300:
                try:
                    body = await reply.body(ERROR_BODY)
                except TransportError:
                    body = b""
                finally:
                    reply.close()
                raise HttpStatus(head.status, head.headers.get("retry-after"), body)
            return reply
        raise TransportError(f"more than {self.limits.max_redirects} redirects", retryable=False)

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= self.KEPT_TARGETS:
                self._targets.clear()  # a server redirecting to ever new paths
            target = self._targets[url] = _Target.of(url)
        return target

    async def _exchange(
        self, target: _Target, payload: bytes, headers: dict[str, str], deadline: float
    ) -> tuple[Reply, _Head]:
        """Connect, send, read the head: the reply is open, its timer running."""
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _over_deadline(self.limits)
        home = target.home
        if home not in self._proxies:
            self._proxies[home] = _proxy_for(target.url)
        if target.https and self._tls is None:
            self._tls = ssl.create_default_context()
        connect_s = min(self.limits.read_timeout_s, remaining)
        try:
            reader, writer, path = await _within(
                connect_s, _open(target, self._proxies[home], self._tls)
            )
        except (OSError, asyncio.TimeoutError) as exc:
            if loop.time() >= deadline:
                raise _over_deadline(self.limits) from None
            raise TransportError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        clock = _Clock(self.limits, deadline, writer.transport)
        try:
            writer.write(_request_head(target.host_header, path, headers, len(payload)) + payload)
            await writer.drain()
            head = await _read_head(reader)
        except BaseException as exc:
            clock.stop()
            writer.transport.abort()
            if isinstance(exc, TransportError):
                clock.check()
                raise
            if isinstance(exc, (OSError, EOFError, asyncio.IncompleteReadError)):
                clock.check()
                raise TransportError(f"{type(exc).__name__}: {exc}", retryable=True) from None
            raise
        clock.touch()
        try:
            framing = head.framing()
        except TransportError:
            clock.stop()
            writer.transport.abort()
            raise
        return Reply(reader, writer, clock, self.limits, framing), head

    def close(self) -> None:
        """Forget the proxies and URLs read (nothing else is held between requests)."""
        self._proxies.clear()
        self._targets.clear()


async def _within(seconds: float, awaitable: Coroutine[Any, Any, T]) -> T:
    """``awaitable``'s result, or ``TimeoutError`` after ``seconds``.

    ``asyncio.timeout`` (3.11) cancels the running task at the limit, where ``wait_for`` wraps
    the coroutine in a task of its own: one task fewer per request.
    """
    if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(awaitable, seconds)
    async with asyncio.timeout(seconds):
        return await awaitable

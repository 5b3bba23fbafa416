"""One HTTP POST to a server we do not control, bounded in time and size, its key kept home.

Standard library only (``http.client``), so no client package is pinned against vLLM's. What a
hostile or broken server can no longer do:

- keep a request open forever: a whole-request deadline, enforced by a watchdog that shuts the
  socket down (a server sending one byte every few seconds never trips a per-read timeout);
- exhaust memory: a cap on the body and on one line of a stream;
- collect the API key: a redirect is followed only within the origin (scheme, host, port) the
  request was sent to; a redirect elsewhere is an error, and the key is never sent there.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from dta_edge.secrets import origin

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


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


class Watchdog:
    """Shuts sockets down at their deadline; one thread per client, started on first use."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._live: dict[int, socket.socket] = {}
        self._expired: set[int] = set()
        self._ids = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, sock: socket.socket, deadline: float) -> int:
        """Shut ``sock`` down at ``deadline`` (perf_counter time) unless unwatched first."""
        token = next(self._ids)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadline",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            self._live[token] = sock
            heapq.heappush(self._heap, (deadline, token, sock))
            if self._heap[0][1] == token:  # the thread sleeps until an earlier deadline
                self._wake.notify()
        return token

    def unwatch(self, token: int) -> bool:
        """Stop watching; True when the deadline had already shut the socket down."""
        with self._wake:
            self._live.pop(token, None)
            expired = token in self._expired
            self._expired.discard(token)
            return expired

    def expired(self, token: int) -> bool:
        """Whether the deadline shut this socket down."""
        with self._wake:
            return token in self._expired

    def close(self) -> None:
        """End the thread (sockets still watched are left alone)."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, token, sock = self._heap[0]
                wait = deadline - time.perf_counter()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.pop(token, None)
                self._expired.add(token)
                with contextlib.suppress(OSError):  # closed meanwhile
                    sock.shutdown(socket.SHUT_RDWR)


class Reply:
    """An open 2xx response: read it whole or as lines, within the limits; then close it."""

    def __init__(
        self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse,
        limits: Limits, watchdog: Watchdog, token: int,
    ) -> None:  # fmt: skip
        self._connection = connection
        self._response = response
        self._limits = limits
        self._watchdog = watchdog
        self._token = token
        self._received = 0
        self._closed = False

    def _read(self) -> bytes:
        try:
            chunk = self._response.read1(CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            if self._watchdog.expired(self._token):
                raise _over_deadline(self._limits) from None
            raise TransportError(f"connection broke mid-response ({type(exc).__name__})",
                                 retryable=True) from None  # fmt: skip
        if self._watchdog.expired(self._token):  # a shut socket reads as the end of the body
            raise _over_deadline(self._limits)
        self._received += len(chunk)
        if self._received > self._limits.max_body_bytes:
            raise TransportError(
                f"the answer passed {self._limits.max_body_bytes / 2**20:g} MiB "
                "(max_response_mib); not read further", retryable=False,
            )  # fmt: skip
        return chunk

    def body(self) -> bytes:
        """The whole body (at most ``max_body_bytes``)."""
        parts = []
        while chunk := self._read():
            parts.append(chunk)
        return b"".join(parts)

    def lines(self) -> Iterator[bytes]:
        """Lines of the body as they arrive (newline kept), none longer than the line cap."""
        pending = b""
        while chunk := self._read():
            pieces = (pending + chunk).split(b"\n")
            pending = pieces.pop()
            for piece in pieces:
                yield piece + b"\n"
            if len(pending) > self._limits.max_line_bytes:
                raise TransportError(
                    f"one line of the stream passed {self._limits.max_line_bytes / 1024:g} KiB "
                    "(max_line_kib); not read further", retryable=False,
                )  # fmt: skip
        if pending:
            yield pending

    def close(self) -> None:
        """Close the response and its connection; the watchdog lets go of the socket."""
        if self._closed:
            return
        self._closed = True
        self._response.close()
        self._connection.close()
        self._watchdog.unwatch(self._token)


def _over_deadline(limits: Limits) -> TransportError:
    return TransportError(
        f"no complete answer within {limits.deadline_s:g} s (request_timeout_s, the whole "
        "request); not waited for further", retryable=False,
    )  # fmt: skip


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


def _connect(url: str, proxy: Proxy, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection for ``url`` (through ``proxy``, if any) and the request target.

    Through a proxy, https is tunnelled (CONNECT) and http asks for the absolute URL; either way
    the origin checks above apply to the URL, never to the proxy.
    """
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if proxy is None:
            return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                               context=context), target  # fmt: skip
        connection = http.client.HTTPSConnection(*proxy, timeout=timeout, context=context)
        connection.set_tunnel(parts.hostname, parts.port or 443)
        return connection, target
    if proxy is not None:
        return http.client.HTTPConnection(*proxy, timeout=timeout), url
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), target


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
    """POSTs within ``limits``: one deadline watchdog, and the environment's proxies read once.

    Reading the proxy variables walks the whole environment; at hundreds of requests a second
    that was an eighth of the client's time, so each origin's proxy is looked up on first use.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._watchdog = Watchdog()
        self._proxies: dict[tuple[str, str, int], Proxy] = {}

    def post(self, url: str, payload: bytes, headers: dict[str, str]) -> Reply:
        """POST ``payload`` to ``url``; the open 2xx reply, following same-origin redirects only.

        Raises:
            HttpStatus: a status neither 2xx nor a followed redirect (body capped at 4 KiB).
            TransportError: the connection failed (retryable), the deadline passed, a redirect
                left the origin or looped (not retryable).
        """
        home = origin(url)
        if home not in self._proxies:
            self._proxies[home] = _proxy_for(url)
        return _post(url, self._proxies[home], payload, headers, self.limits, self._watchdog)

    def close(self) -> None:
        """End the watchdog's thread."""
        self._watchdog.close()


def _post(
    url: str, proxy: Proxy, payload: bytes, headers: dict[str, str], limits: Limits,
    watchdog: Watchdog,
) -> Reply:  # fmt: skip
    deadline = time.perf_counter() + limits.deadline_s
    home = origin(url)
    for _hop in range(limits.max_redirects + 1):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise _over_deadline(limits)
        connection, target = _connect(url, proxy, min(limits.read_timeout_s, remaining))
        token = None
        try:
            connection.connect()
            token = watchdog.watch(connection.sock, deadline)
            connection.request("POST", target, body=payload, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if token is not None and watchdog.unwatch(token):
                raise _over_deadline(limits) from None
            raise TransportError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        reply = Reply(connection, response, limits, watchdog, token)
        if response.status in REDIRECTS:
            location = response.getheader("Location")
            reply.close()
            url = _follow(url, response.status, location, home)
            continue
        if not 200 <= response.status < 300:
            try:
                body = response.read(4096)
            except (OSError, http.client.HTTPException):
                body = b""
            retry_after = response.getheader("Retry-After")
            reply.close()
            raise HttpStatus(response.status, retry_after, body)
        return reply
    raise TransportError(f"more than {limits.max_redirects} redirects", retryable=False)

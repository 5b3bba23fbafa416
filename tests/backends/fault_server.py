"""A loopback HTTP server that misbehaves on cue: 500, 429, slow, malformed JSON, cut streams,
endless or trickling streams, huge bodies and lines, empty answers, redirects.

Each POST takes the next behaviour from a script; when the script runs out it answers well.
Bounded: it serves on 127.0.0.1 only and the tests stop it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_CHUNKS = ["The ", "answer ", "is \\boxed{42}."]


class FaultServer:
    """Start with a script of behaviours; ``requests`` counts what arrived."""

    def __init__(
        self, script: list[str], slow_s: float = 2.0, replies: list[str] | None = None
    ) -> None:
        self.script = list(script)
        self.replies = list(replies or [])  # texts the "ok" answers give, in order
        self.slow_s = slow_s
        self.size = 3 * 2**20  # bytes of a huge body or line
        self.redirect_to = ""  # where "redirect" sends the client (another origin, say)
        self.requests = 0
        self.headers: list[dict] = []
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    owner.requests += 1
                    owner.headers.append(dict(self.headers))
                    owner.paths.append(self.path)
                    owner.bodies.append(body)
                    action = owner.script.pop(0) if owner.script else "ok"
                getattr(owner, f"_{action}")(self, body)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # a client at concurrency 64 is not refused at connect
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _status(handler, code: int, headers: dict | None = None) -> None:
        payload = json.dumps({"error": {"message": f"injected {code}"}}).encode()
        handler.send_response(code)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _e500(self, handler, body) -> None:
        self._status(handler, 500)

    def _e429(self, handler, body) -> None:
        self._status(handler, 429, {"Retry-After": "0"})

    def _e400(self, handler, body) -> None:
        self._status(handler, 400)

    def _echo400(self, handler, body) -> None:
        """A 400 whose body echoes the request headers, as some proxies and gateways do."""
        payload = json.dumps({"error": {"message": "bad request", "request_headers": dict(
            handler.headers)}}).encode()  # fmt: skip
        handler.send_response(400)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _nochoices(self, handler, body) -> None:
        """A stream that carries usage only: no choice, no text."""
        self._start_stream(handler)
        self._event(handler, {"choices": [], "usage": {"prompt_tokens": 7,
                                                       "completion_tokens": 0}})  # fmt: skip
        self._event(handler, "[DONE]")

    def _slow(self, handler, body) -> None:
        time.sleep(self.slow_s)
        self._ok(handler, body)

    def _start_stream(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()

    @staticmethod
    def _event(handler, payload) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        handler.wfile.write(f"data: {data}\n\n".encode())
        handler.wfile.flush()

    def _malformed(self, handler, body) -> None:
        if not body.get("stream"):
            payload = b'{"choices": [ {"message": '
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        self._start_stream(handler)
        self._event(handler, '{"choices": [{"delta": {"content": "The"')  # broken JSON

    def _cut(self, handler, body) -> None:
        self._start_stream(handler)
        self._event(handler, {"choices": [{"delta": {"content": "The "}}]})
        handler.close_connection = True  # no [DONE]: the stream is cut

    def _ok(self, handler, body) -> None:
        chunks = [self.replies.pop(0)] if self.replies else GOOD_CHUNKS
        if not body.get("stream"):
            payload = json.dumps({
                "choices": [{"message": {"content": "".join(chunks)},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3},
            }).encode()  # fmt: skip
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        self._start_stream(handler)
        for piece in chunks:
            self._event(handler, {"choices": [{"delta": {"content": piece}}]})
        self._event(handler, {"choices": [{"delta": {}, "finish_reason": "stop"}]})
        self._event(handler, {"choices": [], "usage": {"prompt_tokens": 7,
                                                       "completion_tokens": 3}})  # fmt: skip
        self._event(handler, "[DONE]")

    def _forever(self, handler, body) -> None:
        """A stream that never ends: a chunk every 10 ms until the client hangs up."""
        self._start_stream(handler)
        try:
            while True:
                self._event(handler, {"choices": [{"delta": {"content": "x"}}]})
                time.sleep(0.01)
        except OSError:
            return

    def _trickle(self, handler, body) -> None:
        """One byte every slow_s seconds: never silent long enough for a read timeout."""
        self._start_stream(handler)
        try:
            for byte in b'data: {"choices": [{"delta": {"content": "slow"}}]}\n\n' * 100:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(self.slow_s)
        except OSError:
            return

    def _huge_body(self, handler, body) -> None:
        """A non-streamed answer of ``size`` bytes (valid JSON, if read whole)."""
        text = "x" * self.size
        payload = json.dumps({"choices": [{"message": {"content": text}}]}).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        try:
            handler.wfile.write(payload)
        except OSError:
            return

    def _long_line(self, handler, body) -> None:
        """A stream whose first line is ``size`` bytes with no newline."""
        self._start_stream(handler)
        try:
            handler.wfile.write(b"data: " + b"x" * self.size)
            handler.wfile.flush()
        except OSError:
            return

    def _null_content(self, handler, body) -> None:
        """``content: null`` (and no reasoning): an empty answer, not a success."""
        message = {"role": "assistant", "content": None}
        self._answer(handler, body, message, {"content": None})

    def _tool_call(self, handler, body) -> None:
        """A tool call instead of text."""
        call = [{"index": 0, "id": "c1", "type": "function",
                 "function": {"name": "calculator", "arguments": "{}"}}]  # fmt: skip
        self._answer(handler, body, {"role": "assistant", "content": None, "tool_calls": call},
                     {"tool_calls": call})  # fmt: skip

    def _answer(self, handler, body, message: dict, delta: dict) -> None:
        if not body.get("stream"):
            payload = json.dumps({"choices": [{"message": message, "finish_reason": "stop"}]})
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload.encode())
            return
        self._start_stream(handler)
        self._event(handler, {"choices": [{"delta": delta, "finish_reason": "stop"}]})
        self._event(handler, "[DONE]")

    def _redirect(self, handler, body) -> None:
        """302 to ``redirect_to`` (a full URL; another origin in the secrets test)."""
        handler.send_response(302)
        handler.send_header("Location", self.redirect_to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _moved(self, handler, body) -> None:
        """307 to the same path under /moved/ on this server (same origin)."""
        handler.send_response(307)
        handler.send_header("Location", "/moved" + handler.path)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

"""A loopback completions server answering echo + logprobs in the OpenAI/vLLM convention.

vLLM returns, for every prompt token, its log-probability given the tokens before it (null for
the first). llama-cpp-python's server returns each token's log-probability given itself and the
tokens before it (shifted by one: abetlen/llama-cpp-python#1983), and llama.cpp's own server
returns none for the prompt (ggml-org/llama.cpp#27174). This stand-in answers as vLLM does, from
the same llama.cpp model the in-process scorer uses, so the served scorer is tested on the real
model and tokenizer without a GPU. Bounded: 127.0.0.1 only, stopped by the test.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np


class EchoLogprobsServer:
    """Serve ``gguf``'s prompt log-probabilities on a free loopback port (``base_url``)."""

    def __init__(self, gguf: Path) -> None:
        from dta_edge.models.gguf_file import load_gguf

        llm = load_gguf(gguf, logits_all=True, n_ctx=0)
        lock = threading.Lock()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    owner.requests += 1
                    answer = _answer(llm, body["prompt"])
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _answer(llm, prompt: str) -> dict:
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(tokens)
    rows = np.asarray(llm.scores[: len(tokens)], dtype=np.float64)
    peak = rows.max(axis=1, keepdims=True)
    log_z = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
    values: list[float | None] = [None] + [
        float(rows[i - 1, tokens[i]] - log_z[i - 1]) for i in range(1, len(tokens))
    ]
    offsets = [len(llm.detokenize(tokens[:i], special=True).decode(errors="ignore"))
               for i in range(len(tokens))]  # fmt: skip
    pieces = [llm.detokenize([t], special=True).decode(errors="ignore") for t in tokens]
    following = int(rows[-1].argmax())  # the one generated token (max_tokens 1)
    values.append(float(rows[-1, following] - log_z[-1]))
    offsets.append(len(prompt))
    pieces.append(llm.detokenize([following], special=True).decode(errors="ignore"))
    logprobs = {"tokens": pieces, "text_offset": offsets, "token_logprobs": values,
                "top_logprobs": None}  # fmt: skip
    return {"choices": [{"text": prompt + pieces[-1], "index": 0, "logprobs": logprobs,
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": len(tokens), "completion_tokens": 1}}  # fmt: skip

"""Every response is bounded: time, size, line length; an answer without text is a failure.

Each row is a server misbehaving in one way; the client must record a failure in bounded time
(pytest-timeout fails the test if it hangs), never an empty success.
"""

from __future__ import annotations

import time

import pytest

from dta_edge.backends.base import GenerationRequest, SamplingSettings
from dta_edge.backends.openai_backend import ServerError
from dta_edge.backends.registry import create_generator
from dta_edge.records import ChatMessage
from dta_edge.tasks.answers import extract_answer

from ..backends.fault_server import FaultServer

REQUEST = GenerationRequest(
    messages=(ChatMessage(role="user", content="What is 6 x 7?"),),
    sampling=SamplingSettings(max_tokens=8),
)
LIMITS = {"backoff_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5, "retries": 2,
          "request_timeout_s": 2.0, "max_response_mib": 1.0, "max_line_kib": 256}  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("behaviour", "stream", "needle", "attempts"),
    [
        ("forever", True, "within 2 s", 1),  # a never-ending stream: the whole-request deadline
        ("trickle", True, "within 2 s", 1),  # one byte per 0.5 s never trips a read timeout
        ("huge_body", False, "passed 1 MiB", 1),  # a body past the cap is not read on
        ("long_line", True, "passed 256 KiB", 1),  # one line without a newline
        ("null_content", False, "no content", 3),  # content: null is asked again, then fails
        ("null_content", True, "no content", 3),
        ("tool_call", False, "tool call", 3),
        ("tool_call", True, "tool call", 3),
    ],
)
def test_a_misbehaving_server_is_a_bounded_failure(behaviour, stream, needle, attempts):
    server = FaultServer([behaviour] * 5, slow_s=0.5)
    try:
        generator = create_generator(
            "openai", "m", {"base_url": server.base_url, "stream": stream, **LIMITS}
        )
        started = time.perf_counter()
        with pytest.raises(ServerError, match=needle):
            generator.generate(REQUEST)
        elapsed = time.perf_counter() - started
        generator.close()
    finally:
        server.close()
    assert server.requests == attempts  # size and deadline faults are not sent again
    assert elapsed < 30  # bounded: once each fault ran until killed


def test_a_good_answer_still_passes_under_the_limits():
    server = FaultServer([])
    try:
        generator = create_generator("openai", "m", {"base_url": server.base_url, **LIMITS})
        assert generator.generate(REQUEST)[0].text == "The answer is \\boxed{42}."
    finally:
        server.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" * 200_000 + "7",  # unclosed boxes: was quadratic
        "x " * 5_000_000 + "Answer: 7",  # a 10 MB runaway output; the answer at its end
        "{" * 300_000 + "\\boxed{7}",
    ],
)
def test_extraction_is_linear_and_reads_the_end(text):
    found = extract_answer(text)
    assert found in ("7", None)
    if not text.startswith("\\boxed{" * 2):
        assert found == "7"

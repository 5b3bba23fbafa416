"""The openai backend against a misbehaving loopback server: retries, give-up, secrets."""

import pytest

from dta_edge.backends.base import GenerationRequest, SamplingSettings
from dta_edge.backends.openai_backend import ServerError
from dta_edge.backends.registry import create_generator
from dta_edge.errors import ConfigError
from dta_edge.records import ChatMessage

from .fault_server import FaultServer

REQUEST = GenerationRequest(
    messages=(ChatMessage(role="user", content="What is 6 x 7?"),),
    sampling=SamplingSettings(max_tokens=8),
)
FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5}


@pytest.fixture
def server(request):
    faults = FaultServer(getattr(request, "param", []), slow_s=1.0)
    yield faults
    faults.close()


@pytest.mark.parametrize("stream", [True, False])
def test_retries_through_500_429_cut_and_malformed(stream):
    server = FaultServer(["e500", "e429", "cut", "malformed"])
    try:
        generator = create_generator(
            "openai", "m", {"base_url": server.base_url, "stream": stream, "retries": 4, **FAST}
        )
        answer = generator.generate(REQUEST)[0]
    finally:
        server.close()
    assert answer.text == "The answer is \\boxed{42}."
    assert answer.output_tokens == 3 and answer.prompt_tokens == 7
    assert answer.backend_timings["http_attempts"] == 5
    assert server.requests == 5


def test_gives_up_with_the_last_reason(server):
    server.script = ["e500"] * 3
    generator = create_generator("openai", "m", {"base_url": server.base_url, "retries": 2, **FAST})
    with pytest.raises(ServerError, match="HTTP 500.*gave up after 3 attempts"):
        generator.generate(REQUEST)
    assert server.requests == 3


def test_a_client_error_is_not_retried(server):
    server.script = ["e400"]
    generator = create_generator("openai", "m", {"base_url": server.base_url, "retries": 3, **FAST})
    with pytest.raises(ServerError, match="HTTP 400"):
        generator.generate(REQUEST)
    assert server.requests == 1


def test_slow_response_times_out_then_retries(server):
    server.script = ["slow"]
    options = {"base_url": server.base_url, "retries": 1, **FAST, "timeout_s": 0.3}
    answer = create_generator("openai", "m", options).generate(REQUEST)[0]
    assert answer.backend_timings["http_attempts"] == 2 and answer.text.endswith("{42}.")


def test_api_key_from_the_environment_is_sent_and_never_echoed(server, monkeypatch):
    monkeypatch.setenv("DTA_TEST_KEY", "sk-secret-123")
    options = {"base_url": server.base_url, "api_key_env": "DTA_TEST_KEY", **FAST}
    generator = create_generator("openai", "m", options)
    generator.generate(REQUEST)
    assert server.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in repr(generator.options) + str(generator.options.model_dump())


def test_an_unset_key_variable_stops_before_any_request(server, monkeypatch):
    monkeypatch.delenv("DTA_TEST_KEY", raising=False)
    options = {"base_url": server.base_url, "api_key_env": "DTA_TEST_KEY", **FAST}
    with pytest.raises(ConfigError, match="DTA_TEST_KEY is not set"):
        create_generator("openai", "m", options)
    assert server.requests == 0


@pytest.mark.parametrize("stream", [True, False])
def test_an_error_body_echoing_the_key_is_redacted(server, monkeypatch, stream):
    monkeypatch.setenv("DTA_TEST_KEY", "sk-echo-me-987654321")
    server.script = ["echo400"]
    options = {"base_url": server.base_url, "api_key_env": "DTA_TEST_KEY", "stream": stream,
               **FAST}  # fmt: skip
    with pytest.raises(ServerError) as caught:
        create_generator("openai", "m", options).generate(REQUEST)
    assert "HTTP 400" in str(caught.value) and "Authorization" in str(caught.value)
    assert "sk-echo-me-987654321" not in str(caught.value)
    assert "echo-me" not in str(caught.value)


def test_a_stream_without_choices_is_retried_then_an_error(server):
    server.script = ["nochoices", "nochoices"]
    generator = create_generator("openai", "m", {"base_url": server.base_url, "retries": 1, **FAST})
    with pytest.raises(ServerError, match="no choices"):
        generator.generate(REQUEST)
    assert server.requests == 2
    server.script = ["nochoices"]
    answer = generator.generate(REQUEST)[0]  # one bad reply, then a good one: retried, not empty
    assert answer.text.endswith("{42}.") and answer.backend_timings["http_attempts"] == 2


def test_several_endpoints_share_the_requests():
    first, second = FaultServer([]), FaultServer([])
    try:
        options = {"base_url": [first.base_url, second.base_url], "concurrency": 2, **FAST}
        generator = create_generator("openai", "m", options)
        generator.generate(REQUEST.model_copy(update={"sampling": SamplingSettings(n=6)}))
    finally:
        first.close()
        second.close()
    assert first.requests == 3 and second.requests == 3

"""Every backend on the real runtime: transformers, llama.cpp, ONNX Runtime, an OpenAI server."""

import pytest
from pydantic import BaseModel

from dta_edge.backends.base import GenerationRequest, SamplingSettings, split_reasoning
from dta_edge.backends.registry import create_generator
from dta_edge.errors import ConfigError
from dta_edge.records import ChatMessage

QUESTION = (
    "A 2400 MHz radio link spans 3.2 km in free space. What is the free-space path loss in dB?\n"
    "Please reason step by step, and put your final answer within \\boxed{}."
)


def ask(thinking=False, budget=None, **sampling):
    return GenerationRequest(
        messages=(ChatMessage(role="user", content=QUESTION),),
        sampling=SamplingSettings(**{"max_tokens": 64, **sampling}),
        thinking=thinking,
        thinking_budget=budget,
    )


@pytest.fixture(scope="module")
def generators(tiny_model_dir, tiny_gguf_f32, tiny_onnx_fp32, llama_server):
    built = {
        "transformers": create_generator("transformers", str(tiny_model_dir)),
        "llama-cpp": create_generator("llama-cpp", str(tiny_gguf_f32), {"n_threads": 2}),
        "onnx": create_generator("onnx", str(tiny_onnx_fp32)),
        # llama.cpp's Python server ignores chat_template_kwargs: render the template here; its
        # default repeat penalty (1.1) would change greedy text, so it goes off as everywhere.
        "openai": create_generator(
            "openai", "tiny",
            {"base_url": llama_server, "api": "completions", "chat_template": str(tiny_model_dir),
             "extra_body": {"repeat_penalty": 1.0}},
        ),
    }  # fmt: skip
    yield built
    for generator in built.values():
        generator.close()


@pytest.mark.slow
@pytest.mark.parametrize("thinking", [False, True])
def test_same_greedy_text_across_fp32_backends(generators, thinking):
    answers = {name: g.generate(ask(thinking))[0] for name, g in generators.items()}
    reference = answers["transformers"]
    assert reference.output_tokens > 0 and reference.prompt_tokens > 0
    for name, answer in answers.items():
        assert (answer.text, answer.reasoning) == (reference.text, reference.reasoning), name
        if name == "openai":
            # llama.cpp's server streams no usage: outputs are counted as chunks (one per token,
            # the end-of-turn token not sent) and the prompt size stays unknown
            ended = reference.finish_reason == "stop"
            assert answer.output_tokens == reference.output_tokens - ended
            assert answer.prompt_tokens is None
        else:
            assert answer.output_tokens == reference.output_tokens, name
            assert answer.prompt_tokens == reference.prompt_tokens, name
        assert answer.ttft_s is not None and 0 < answer.ttft_s <= answer.e2e_s, name


def test_thinking_text_is_kept_apart_and_counted(generators):
    thinking = generators["llama-cpp"].generate(ask(True, max_tokens=96))[0]
    assert thinking.reasoning and "<think>" not in thinking.text
    assert "</think>" not in thinking.reasoning
    off = generators["llama-cpp"].generate(ask(False, max_tokens=96))[0]
    assert off.reasoning is None


def test_thinking_budget_closes_the_block(generators, tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    free = generators["llama-cpp"].generate(ask(True, max_tokens=128))[0]
    assert len(tokenizer.encode(free.reasoning, add_special_tokens=False)) > 8  # budget binds
    for name in ("llama-cpp", "transformers", "onnx", "openai"):
        budgeted = generators[name].generate(ask(True, budget=8, max_tokens=128))[0]
        assert len(tokenizer.encode(budgeted.reasoning, add_special_tokens=False)) <= 9, name
        assert budgeted.text, name  # the model answered after the forced </think>
        assert budgeted.output_tokens <= 128


def test_llama_cpp_records_its_own_timings(generators):
    answer = generators["llama-cpp"].generate(ask())[0]
    timings = answer.backend_timings
    assert timings["llama_prompt_tokens"] == answer.prompt_tokens
    # llama.cpp evaluates every sampled token but the last one it was not asked to continue
    assert timings["llama_eval_tokens"] in (answer.output_tokens - 1, answer.output_tokens)
    assert timings["llama_eval_ms"] > 0 and timings["llama_prompt_eval_ms"] > 0


def test_seeded_sampling_is_reproducible_and_samples_differ(generators):
    request = ask(temperature=1.0, top_p=0.95, n=3, seed=5)
    first = [g.text for g in generators["llama-cpp"].generate(request)]
    again = [g.text for g in generators["llama-cpp"].generate(request)]
    assert first == again
    assert len(set(first)) > 1


def test_openai_chat_streaming_and_not(llama_server):
    no_penalty = {"repeat_penalty": 1.0}
    streaming = create_generator(
        "openai", "tiny", {"base_url": llama_server, "extra_body": no_penalty}
    )
    whole = create_generator(
        "openai", "tiny", {"base_url": llama_server, "stream": False, "extra_body": no_penalty}
    )
    a, b = streaming.generate(ask())[0], whole.generate(ask())[0]
    assert a.text == b.text and a.text
    assert a.ttft_s is not None and b.ttft_s is None
    assert a.output_tokens == b.output_tokens > 0


@pytest.mark.slow
def test_openai_unreachable_server_is_a_clear_error():
    from dta_edge.backends.openai_backend import ServerError

    from ..conftest import free_port

    dead = create_generator("openai", "m", {"base_url": f"http://127.0.0.1:{free_port()}/v1"})
    with pytest.raises(ServerError, match="127.0.0.1"):
        dead.generate(ask())


def test_registry_rejects_unknown_backends_and_options(tiny_gguf_f32):
    with pytest.raises(ConfigError, match="unknown backend 'tgi'.*llama-cpp"):
        create_generator("tgi", "m")
    with pytest.raises(ConfigError, match="n_gpu_layer"):
        create_generator("llama-cpp", str(tiny_gguf_f32), {"n_gpu_layer": 99})


def test_split_reasoning():
    assert split_reasoning("<think>\nwork\n</think>\n\nAnswer 3<|im_end|>", thinking=True) == (
        "Answer 3",
        "work",
    )
    assert split_reasoning("work\n</think>\n\nAnswer", thinking=True) == ("Answer", "work")
    assert split_reasoning("still thinking", thinking=True) == ("", "still thinking")
    assert split_reasoning("Answer 3<|im_end|>junk", thinking=False) == ("Answer 3", None)


def test_every_registered_backend_says_what_its_model_reference_names():
    """Config checks and curation ask the class, never compare backend names."""
    from dta_edge.backends.registry import BACKENDS, backend_class

    for name in BACKENDS:
        cls = backend_class(name)
        assert cls.name == name
        assert cls.model_kind in {"folder", "gguf", "onnx", "served"}
        assert issubclass(cls.Options, BaseModel)

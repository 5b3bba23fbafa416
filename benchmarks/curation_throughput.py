"""Curation request throughput vs a bare asyncio client, same server, same concurrency.

Phase I (dta_edge.curation.phase1 with an `openai` teacher: threads, retries, per-endpoint
bounds, JSONL appends) sends N requests at concurrency C; a bare asyncio client (raw HTTP/1.1 on
asyncio streams, no retries, no records) sends the same N requests at the same C, once just
before Phase I and once just after. Printed: the request rates, the ratio ours / bare (target
>= 0.90) against the mean of the two bare runs, and those two runs' own ratio (the A/A control:
what this machine's noise alone moves), against

1. llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serving the tiny GGUF (the model
   dominates), and
2. an instant loopback server answering a fixed stream (the client side dominates). It runs in a
   process of its own, as every real server does, so its work is not charged to the client's
   interpreter lock (``--server-in-process`` puts it back, as this script did before).

Between the two, "transport" is our openai backend alone (``acomplete`` on prompts rendered
beforehand, C at a time on the client's loop): what the HTTP client costs, without rendering,
scoring and records; "blocking callers" is the same through the blocking ``complete`` from C
threads, as the judge and Phase II call it.

    .venv/bin/python benchmarks/curation_throughput.py [--requests 64] [--concurrency 4]

Client capacity for many remote teachers (README "Teachers at scale"): the instant server
alone, at the concurrency a vLLM fleet is driven with,

    .venv/bin/python benchmarks/curation_throughput.py --servers instant --requests 1024 \
        --concurrency 16 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MAX_TOKENS = 24


async def bare_client(
    base_url: str, bodies: list[dict], concurrency: int, endpoint: str = "completions"
) -> float:
    """Requests per second of a minimal asyncio streaming client."""
    host, port = base_url.split("//")[1].split("/")[0].split(":")
    path = "/" + "/".join(base_url.split("//")[1].split("/")[1:]) + "/" + endpoint
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection(host, int(port))
            payload = json.dumps(body).encode()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
            data = await reader.read()
            writer.close()
            if b"[DONE]" not in data:
                raise RuntimeError(f"incomplete response: {data[-200:]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    return len(bodies) / (time.perf_counter() - started)


def ours(
    base_url: str, problems, concurrency: int, work: Path, template: str, samples: int = 1,
    api: str = "completions",
) -> float:  # fmt: skip
    """Requests per second of Phase I with one openai teacher, ``samples`` (k) per problem.

    With k > 1, len(problems) / k problems are asked, so the request count stays the same; a
    problem's prompt is rendered once for its k requests, as in the shipped recipes (k: 4).
    """
    from dta_edge.backends.base import SamplingSettings
    from dta_edge.curation.phase1 import run_phase1
    from dta_edge.curation.recipe import CurationRecipe, ModelSpec, StudentSpec, TeacherSpec
    from dta_edge.tasks.sources import ProblemSource

    teacher = TeacherSpec(
        name="served", concurrency=concurrency, k=samples,
        model=ModelSpec(backend="openai", model="tiny", sampling=SamplingSettings(
            temperature=0.7, max_tokens=MAX_TOKENS),
            options=_options(base_url, api, template)),
    )  # fmt: skip
    recipe = CurationRecipe(
        name="bench", problems=ProblemSource(file="unused"), student=StudentSpec(model="unused"),
        teachers=(teacher,),
    )  # fmt: skip
    asked = problems[: len(problems) // samples]
    run_phase1(recipe, problems[:4], work / "warm-up")  # imports and first connections
    started = time.perf_counter()
    run_phase1(recipe, asked, work / "run")
    return len(asked) * samples / (time.perf_counter() - started)


def _options(base_url: str, api: str, template: str) -> dict:
    """The teacher's options: completions renders the chat template here, chat on the server."""
    if api == "chat":
        return {"base_url": base_url, "api": "chat"}
    return {"base_url": base_url, "api": "completions", "chat_template": template}


def _endpoint(api: str) -> str:
    """The path under base_url that ``api`` posts to (the bare client asks the same one)."""
    return "chat/completions" if api == "chat" else "completions"


def _client(base_url: str, concurrency: int, template: str, api: str):
    """(generator, coroutine for one ask, blocking call for one ask) on ``api``."""
    from dta_edge.backends.base import SamplingSettings
    from dta_edge.backends.openai_backend import OpenAIGenerator

    options = OpenAIGenerator.Options(**_options(base_url, api, template), concurrency=concurrency)
    generator = OpenAIGenerator("tiny", options)
    if api == "chat":  # asks are GenerationRequests
        return generator, generator.agenerate, generator.generate
    sampling = SamplingSettings(temperature=0.7, max_tokens=MAX_TOKENS)
    return (
        generator,
        lambda prompt: generator.acomplete(prompt, sampling, 0, ()),
        lambda prompt: generator.complete(prompt, sampling, 0, ()),
    )


def transport(base_url: str, asks: list, concurrency: int, template: str, api: str) -> float:
    """Requests per second of the openai backend alone on rendered asks (C coroutines)."""
    generator, one, _ = _client(base_url, concurrency, template, api)

    async def every_ask() -> None:
        await asyncio.gather(*(one(ask) for ask in asks))  # the endpoint's bound applies

    try:
        started = time.perf_counter()
        generator.run(every_ask())
        return len(asks) / (time.perf_counter() - started)
    finally:
        generator.close()


def blocking(base_url: str, asks: list, concurrency: int, template: str, api: str) -> float:
    """The same through the blocking calls from C threads (as the judge calls them)."""
    from concurrent.futures import ThreadPoolExecutor

    generator, _, call = _client(base_url, concurrency, template, api)
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(call, asks))
        return len(asks) / (time.perf_counter() - started)
    finally:
        generator.close()


@contextlib.contextmanager
def instant_server(in_process: bool):
    """The instant loopback server's base URL, served from this process or a child of its own."""
    from tests.backends.fault_server import FaultServer

    if in_process:
        server = FaultServer([])
        try:
            yield server.base_url
        finally:
            server.close()
        return
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); "
            "from tests.backends.fault_server import FaultServer; "
            "print(FaultServer([]).base_url, flush=True); time.sleep(86400)")  # fmt: skip
    root = str(Path(__file__).resolve().parent.parent)
    child = subprocess.Popen([sys.executable, "-c", code, root], stdout=subprocess.PIPE, text=True)
    try:
        yield child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait()


def bodies_for(problems, template: str, api: str = "completions") -> list[dict]:
    """The exact bodies our teacher sends (same prompt, sampling and streaming)."""
    from dta_edge.curation.prompts import render
    from dta_edge.models.chat import DEFAULT_INSTRUCTION, render_chat
    from dta_edge.records import ChatMessage

    bodies = []
    for p in problems:
        content = render("curation/prompts/teacher.jinja", question=p.question,
                         instruction=DEFAULT_INSTRUCTION)  # fmt: skip
        message = ChatMessage(role="user", content=content)
        asked = (
            {"messages": [message.model_dump(exclude_none=True)],
             "chat_template_kwargs": {"enable_thinking": False}}
            if api == "chat"
            else {"prompt": render_chat(template, [message], thinking=False)}
        )  # fmt: skip
        bodies.append({"model": "tiny", "stream": True, "stream_options": {"include_usage": True},
                       **asked, "temperature": 0.7, "top_p": 1.0, "max_tokens": MAX_TOKENS,
                       "seed": 0})  # fmt: skip
    return bodies


def asks_for(bodies: list[dict], api: str) -> list:
    """What the transport is handed: rendered prompts, or chat requests."""
    if api != "chat":
        return [body["prompt"] for body in bodies]
    from dta_edge.backends.base import GenerationRequest, SamplingSettings
    from dta_edge.records import ChatMessage

    sampling = SamplingSettings(temperature=0.7, max_tokens=MAX_TOKENS)
    return [GenerationRequest(messages=tuple(ChatMessage(**m) for m in body["messages"]),
                              sampling=sampling) for body in bodies]  # fmt: skip


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4])
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="rounds per concurrency; each ratio is taken within its round, and the median, its "
        "interval and the rounds' range are printed",
    )
    parser.add_argument(
        "--api",
        choices=["completions", "chat"],
        default="completions",
        help="completions: the chat template rendered by the client (more client work); chat: "
        "messages, rendered by the server (the shipped recipes' default)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1,
        help="Phase I's k (samples per problem; the same number of requests in all)",
    )
    parser.add_argument(
        "--servers",
        choices=["both", "instant"],
        default="both",
        help="instant: the instant loopback server alone (client capacity)",
    )
    parser.add_argument(
        "--server-in-process",
        action="store_true",
        help="serve the instant server from this process (shares the client's interpreter lock)",
    )
    return parser.parse_args()


def main() -> None:
    """Measure both servers and print the ratios."""
    args = parse_args()

    from dta_edge.backends.llama_server import serve_gguf
    from dta_edge.export.embedded import exporting_resolver
    from dta_edge.models.tiny import tiny_model
    from dta_edge.tasks.generator import ProblemsConfig, generate_problems

    template = str(tiny_model().path)
    problems = list(generate_problems(ProblemsConfig(n=args.requests, seed=8)))
    with open(Path(template) / "chat_template.jinja") as handle:
        bodies = bodies_for(problems, handle.read(), args.api)
    asks = asks_for(bodies, args.api)
    endpoint = _endpoint(args.api)
    with contextlib.ExitStack() as stack:
        instant = stack.enter_context(instant_server(args.server_in_process))
        where = "this process" if args.server_in_process else "its own process"
        servers = [(f"instant loopback server ({where})", instant)]
        if args.servers == "both":
            gguf = Path(exporting_resolver()("embedded:tiny@cpu-gguf-q8_0"))
            served = stack.enter_context(serve_gguf(gguf))
            servers.insert(0, ("llama_cpp.server, tiny GGUF", served))
        for label, base in servers:
            for concurrency in args.concurrency:
                asyncio.run(bare_client(base, bodies[:4], concurrency, endpoint))  # warm-up
                rounds = [
                    measure_round(base, problems, bodies, asks, concurrency, template, args)
                    for _ in range(args.repeats)
                ]
                print(summary(label, rounds, concurrency, args), flush=True)


def summary(label: str, rounds: list[tuple], concurrency: int, args) -> str:
    """One line: the medians of every rate and ratio over the rounds, and the ratios' spread."""
    mine, alone, threaded, bare = (statistics.median(r[i] for r in rounds) for i in range(4))
    ratios = sorted(r[0] / r[3] for r in rounds)
    spread = ""
    if len(rounds) > 1:
        low, high, coverage = median_interval(ratios)
        spread = (f" (rounds {ratios[0]:.3f}-{ratios[-1]:.3f}; the median within {low:.3f}-"
                  f"{high:.3f} with {coverage:.0%} confidence)")  # fmt: skip
    controls = sorted(r[4] for r in rounds)
    return (
        f"{label}: curation {mine:.1f} req/s, transport {alone:.1f} req/s, blocking callers "
        f"{threaded:.1f} req/s, bare asyncio client {bare:.1f} req/s, ratio "
        f"{statistics.median(ratios):.3f}{spread} (transport "
        f"{statistics.median(r[1] / r[3] for r in rounds):.3f}, blocking "
        f"{statistics.median(r[2] / r[3] for r in rounds):.3f}; A/A control: bare after / bare "
        f"before {statistics.median(controls):.3f}, {controls[0]:.3f}-{controls[-1]:.3f}; "
        f"medians of {len(rounds)}; {args.requests} requests, concurrency {concurrency}, "
        f"k={args.samples}, api {args.api})"
    )


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(low, high, coverage): the narrowest order-statistic interval around the median.

    Distribution-free: the median lies between the k-th smallest and the k-th largest of n
    rounds with probability 1 - 2 P(Binomial(n, 1/2) < k). The largest k whose coverage still
    reaches ``level`` is taken; with too few rounds for ``level`` (fewer than 6 for 95%), the
    full range and the coverage it has.
    """
    ordered = sorted(values)
    n = len(ordered)
    below = [math.comb(n, i) / 2**n for i in range(n + 1)]
    k, coverage = 1, 1 - 2 * below[0]
    while k + 1 <= n // 2 and 1 - 2 * sum(below[: k + 1]) >= level:
        k += 1
        coverage = 1 - 2 * sum(below[:k])
    return ordered[k - 1], ordered[n - k], coverage


def measure_round(base, problems, bodies, asks, concurrency, template, args) -> tuple:
    """One round, in req/s: Phase I, the transport, blocking callers, and the bare client.

    The bare client runs just before and just after Phase I, and Phase I's ratio is taken
    against the mean of the two: this VM's speed drifts within seconds (the bare client's own
    rate moved by a third from run to run), and a drift that is linear over the three runs
    cancels. The two bare runs' ratio is returned as the A/A control: the noise floor.
    """
    endpoint = _endpoint(args.api)
    before = asyncio.run(bare_client(base, bodies, concurrency, endpoint))
    with tempfile.TemporaryDirectory() as work:
        mine = ours(base, problems, concurrency, Path(work), template, args.samples, args.api)
    after = asyncio.run(bare_client(base, bodies, concurrency, endpoint))
    alone = transport(base, asks, concurrency, template, args.api)
    threaded = blocking(base, asks, concurrency, template, args.api)
    return mine, alone, threaded, (before + after) / 2, after / before


if __name__ == "__main__":
    main()

"""The loop every curation step runs: bounded parallel work, results kept one at a time.

Phase I (teachers), Phase II rewriting and the judge all send requests ``workers`` at a time and
append each finished result to their JSONL file at once, one append at a time, so appends never
interleave and a crash loses only what was in flight; a resumed step passes only the items its
file does not hold yet. A served model's client that runs on an event loop of its own gets
the same loop as coroutines (:func:`run_bounded_async`): no thread per request in flight.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def progress_ticker(
    progress: Callable[[str, int, int], None], name: str, done: int, total: int
) -> Callable[[], None]:
    """Report ``done`` of ``total`` now; the returned callable reports one more each call."""
    counter = iter(range(done, total + 1))

    def tick() -> None:
        progress(name, next(counter, total), total)

    tick()
    return tick


def run_bounded(
    items: Sequence[T],
    work: Callable[[T], R],
    keep: Callable[[T, R], None],
    *,
    workers: int = 1,
    on_done: Callable[[], None] | None = None,
) -> None:
    """``keep(item, work(item))`` for every item, at most ``workers`` ``work`` calls at once.

    Each pool thread keeps its own result as soon as it has it, under one lock, so appends never
    interleave. After the first failure (in ``work`` or ``keep``, a full disk say, or an
    interrupt of the calling thread) no new item starts and the failure is raised once the
    items in flight have finished: before, the pool went on sending every remaining request
    and threw the answers away.

    Args:
        items: what is still to do.
        work: the request (may run on a pool thread).
        keep: writes the result (never two at once; in completion order).
        workers: concurrent ``work`` calls; 1 runs everything in order on this thread.
        on_done: called after each item is kept (progress bars), under the same lock.
    """
    done = on_done or (lambda: None)
    if workers <= 1:
        for item in items:
            keep(item, work(item))
            done()
        return
    writing = threading.Lock()
    failed = threading.Event()

    def run(item: T) -> None:
        if failed.is_set():
            return
        try:
            result = work(item)
            with writing:
                keep(item, result)
                done()
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(run, item) for item in items]
        try:
            wait(futures)
        except BaseException:
            failed.set()  # interrupted here (Ctrl-C, SIGTERM): start nothing new either
            raise
    for future in futures:
        future.result()  # the first failure, in submission order


async def run_bounded_async(
    items: Sequence[T],
    work: Callable[[T], Awaitable[R]],
    keep: Callable[[T, R], None],
    *,
    workers: int = 1,
    on_done: Callable[[], None] | None = None,
) -> None:
    """:func:`run_bounded` on an event loop: ``workers`` coroutines take items in order.

    ``keep`` runs on the loop between awaits, so appends never interleave without a lock. After
    the first failure no new item starts; the items in flight finish and the failure is raised.
    Cancelled (the caller interrupted, see ``LoopThread.run``), the items in flight are
    cancelled with it and nothing goes on behind the caller's back.
    """
    done = on_done or (lambda: None)
    queue = iter(items)
    failures: list[BaseException] = []

    async def worker() -> None:
        for item in queue:
            if failures:
                return
            try:
                result = await work(item)
                keep(item, result)
                done()
            except Exception as exc:  # noqa: BLE001 - raised below, once the others stopped
                failures.append(exc)
                return

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(items))))))
    if failures:
        raise failures[0]

"""One asyncio event loop on a thread of its own, for callers that are not async.

A served model's client keeps its connections, bounds and timers on one loop. Async callers
(Phase I's driver) hand that loop a whole run at once; everyone else (the bench, the judge, a
thread pool) calls the same client through :meth:`LoopThread.run`, which blocks the calling thread
until the coroutine is done. On one loop, a thousand requests in flight cost no thread each and
no hand-off of the interpreter lock per request: that hand-off was what kept a threaded client
at about half the rate of a bare asyncio one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop on a daemon thread, started on first use and stopped by :meth:`close`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._starting = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for it; an interrupt here cancels it.

        On Ctrl-C (or any exception raised in the waiting thread) the coroutine is cancelled and
        waited for before the exception goes on, so nothing keeps sending requests behind the
        caller's back.
        """
        loop = self._started()
        if threading.get_ident() == self._thread_id():
            coroutine.close()
            raise RuntimeError(f"{self._name}: a blocking call from its own event loop; await it")
        finished = threading.Event()
        outcome: list[asyncio.Task[T]] = []

        def start() -> None:
            task = loop.create_task(coroutine)
            outcome.append(task)
            task.add_done_callback(lambda _task: finished.set())

        loop.call_soon_threadsafe(start)
        try:
            finished.wait()
        except BaseException:
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in outcome])
            finished.wait()
            raise
        task = outcome[0]
        if task.cancelled():
            raise asyncio.CancelledError(f"{self._name}: cancelled")
        return task.result()

    def close(self) -> None:
        """Cancel what still runs, stop the loop and its thread; a later :meth:`run` starts anew.

        A thread still waiting in :meth:`run` gets ``CancelledError`` instead of waiting forever
        on a loop that no longer turns.
        """
        with self._starting:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(cancel_all(), loop)
        thread.join()
        loop.close()

    def _thread_id(self) -> int | None:
        thread = self._thread
        return thread.ident if thread is not None else None

    def _started(self) -> asyncio.AbstractEventLoop:
        if self._pid != os.getpid():  # a forked child: the parent's loop thread is not here
            self._starting = threading.Lock()
            self._loop = self._thread = None
            self._pid = os.getpid()
        with self._starting:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

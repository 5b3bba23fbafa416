"""The curation steps' bounded loop: every item kept once, writes never overlap, a failure stops
new requests instead of sending the rest and throwing their answers away."""

from __future__ import annotations

import threading
import time

import pytest

from dta_edge.curation.steps import run_bounded, run_bounded_async


def test_every_item_is_kept_once_and_no_two_writes_overlap():
    kept: list[int] = []
    writing = 0
    overlaps = 0
    lock = threading.Lock()
    running = 0
    most_running = 0

    def work(item: int) -> int:
        nonlocal running, most_running
        with lock:
            running += 1
            most_running = max(most_running, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return item * item

    def keep(item: int, result: int) -> None:
        nonlocal writing, overlaps
        writing += 1
        overlaps += writing > 1
        time.sleep(0.001)  # a slow disk: another writer would be seen here
        kept.append(result - item * item + item)
        writing -= 1

    ticks = []
    run_bounded(range(200), work, keep, workers=8, on_done=lambda: ticks.append(1))
    assert sorted(kept) == list(range(200))
    assert overlaps == 0
    assert len(ticks) == 200
    assert 1 < most_running <= 8


def test_a_failed_write_stops_new_requests():
    """A full disk on the first record: the requests in flight finish, no new one is sent."""
    sent = []

    def work(item: int) -> int:
        sent.append(item)
        time.sleep(0.005)
        return item

    def keep(_item: int, _result: int) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        run_bounded(range(500), work, keep, workers=4)
    assert len(sent) < 20  # the 4 in flight and a few already picked up, not all 500


def test_a_failed_request_is_raised_after_the_ones_in_flight_are_kept():
    kept = []

    def work(item: int) -> int:
        if item == 3:
            raise RuntimeError("a broken template")
        time.sleep(0.01)
        return item

    with pytest.raises(RuntimeError, match="broken template"):
        run_bounded(range(100), work, lambda item, _r: kept.append(item), workers=4)
    assert len(kept) < 20
    assert len(set(kept)) == len(kept)


def test_an_interrupt_of_the_calling_thread_stops_new_requests():
    """Ctrl-C (or a SIGTERM handler raising) while the pool works: no new request is sent."""
    import signal

    sent = []
    main = threading.main_thread().ident

    def work(item: int) -> int:
        sent.append(item)
        if len(sent) == 40:  # the interrupt comes while the pool is busy, however loaded
            signal.pthread_kill(main, signal.SIGINT)
        time.sleep(0.01)
        return item

    # Ctrl-C's own handler, whatever an earlier test in this process installed in its place
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_bounded(range(1000), work, lambda _item, _result: None, workers=4)
    finally:
        signal.signal(signal.SIGINT, previous)
    at_return = len(sent)
    time.sleep(0.3)  # nothing left running behind the caller's back
    assert len(sent) == at_return < 200  # about 44 by the interrupt


def test_one_worker_runs_in_order_on_the_calling_thread():
    seen = []
    run_bounded([3, 1, 2], lambda i: (i, threading.get_ident()), lambda i, r: seen.append(r))
    assert [item for item, _ in seen] == [3, 1, 2]
    assert {thread for _, thread in seen} == {threading.get_ident()}


# The same loop on an event loop (Phase I's driver for a served teacher).


def test_the_async_loop_keeps_every_item_once_with_at_most_workers_in_flight():
    import asyncio

    kept: list[int] = []
    running = most_running = 0

    async def work(item: int) -> int:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        await asyncio.sleep(0.001 * (item % 3))
        running -= 1
        return item

    ticks = []
    asyncio.run(run_bounded_async(range(300), work, lambda _i, r: kept.append(r), workers=16,
                                  on_done=lambda: ticks.append(1)))  # fmt: skip
    assert sorted(kept) == list(range(300)) and len(ticks) == 300
    assert 1 < most_running <= 16


def test_the_async_loop_stops_new_items_after_a_failed_write():
    import asyncio

    sent = []

    async def work(item: int) -> int:
        sent.append(item)
        await asyncio.sleep(0.002)
        return item

    def keep(_item: int, _result: int) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        asyncio.run(run_bounded_async(range(500), work, keep, workers=4))
    assert len(sent) <= 8  # the 4 in flight, never the rest


def test_an_interrupt_while_the_client_loop_works_cancels_it_and_stops_new_requests():
    """Ctrl-C in the calling thread: the loop's requests in flight are cancelled, none follows."""
    import asyncio
    import signal

    from dta_edge.backends.event_loop import LoopThread

    sent = []
    main = threading.main_thread().ident

    async def work(item: int) -> int:
        sent.append(item)
        if len(sent) == 40:
            signal.pthread_kill(main, signal.SIGINT)
        await asyncio.sleep(0.01)
        return item

    loop = LoopThread("test-loop")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run(run_bounded_async(range(1000), work, lambda _i, _r: None, workers=4))
        at_return = len(sent)
        time.sleep(0.3)  # nothing left running behind the caller's back
        assert len(sent) == at_return < 60
        assert loop.run(asyncio.sleep(0, result="still serves")) == "still serves"
    finally:
        signal.signal(signal.SIGINT, previous)
        loop.close()


def test_closing_the_client_loop_releases_a_thread_still_waiting_on_it():
    import asyncio

    from dta_edge.backends.event_loop import LoopThread

    loop = LoopThread("test-close")
    raised: list[BaseException] = []

    def wait_long() -> None:
        try:
            loop.run(asyncio.sleep(30))
        except BaseException as exc:  # noqa: BLE001 - what the waiting thread saw
            raised.append(exc)

    waiter = threading.Thread(target=wait_long)
    waiter.start()
    time.sleep(0.2)
    started = time.perf_counter()
    loop.close()
    waiter.join(5)
    assert not waiter.is_alive() and time.perf_counter() - started < 5
    assert len(raised) == 1 and isinstance(raised[0], asyncio.CancelledError)
    assert loop.run(asyncio.sleep(0, result="fresh")) == "fresh"  # a later run starts anew
    loop.close()

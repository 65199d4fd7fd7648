"""The Coalescer: one round trip per batch, bounded by its timeout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubegate.services.counters.base import CounterUnavailable
from kubegate.services.counters.batch import Coalescer, Verdict


async def test_a_round_trip_past_the_timeout_fails_its_batch_and_the_next_goes_on() -> None:
    delays = [5.0, 0.0]
    seen: list[list[int]] = []

    async def flush(reqs: list[int]) -> list[Any]:
        seen.append(reqs)
        await asyncio.sleep(delays.pop(0))
        return [r * 10 for r in reqs]

    batcher: Coalescer[int] = Coalescer(flush, timeout=0.05)
    slow = [batcher.enqueue(i) for i in (1, 2)]
    done, _ = await asyncio.wait(slow, timeout=2)
    assert len(done) == 2  # within about the timeout, not the 5 s round trip
    for fut in slow:
        with pytest.raises(CounterUnavailable, match="TimeoutError"):
            fut.result()
    assert await batcher.submit(3) == 30
    assert seen == [[1, 2], [3]] and batcher.round_trips == 2


async def test_closing_fails_what_is_in_flight() -> None:
    async def flush(reqs: list[int]) -> list[Any]:
        await asyncio.sleep(5)
        return reqs

    batcher: Coalescer[int] = Coalescer(flush, timeout=10)
    fut = batcher.enqueue(1)
    await asyncio.sleep(0.01)
    await batcher.close()
    with pytest.raises(CounterUnavailable, match="cancelled"):
        fut.result()


async def test_a_verdict_is_answered_in_the_round_trip_with_its_batch() -> None:
    async def flush(reqs: list[int]) -> list[Any]:
        return [r * 10 for r in reqs]

    batcher: Coalescer[int] = Coalescer(flush, timeout=1)
    answered: list[tuple[int, Any]] = []
    verdicts = [batcher.enqueue_to(i, Verdict()) for i in (1, 2)]
    for i, v in zip((1, 2), verdicts, strict=True):
        v.add_done_callback(lambda done, i=i: answered.append((i, done.result())))
    fut = batcher.enqueue(3)
    assert not verdicts[0].done()
    assert await fut == 30
    # the callbacks ran inside the round trip, before the future's awaiter resumed
    assert answered == [(1, 10), (2, 20)] and batcher.round_trips == 1
    assert verdicts[0].exception() is None


async def test_a_verdict_gets_the_failure_and_a_failing_callback_spares_the_batch(
        caplog: pytest.LogCaptureFixture) -> None:
    async def flush(reqs: list[int]) -> list[Any]:
        return [ValueError("no") if r == 2 else r for r in reqs]

    batcher: Coalescer[int] = Coalescer(flush, timeout=1)
    first, second, third = (batcher.enqueue_to(i, Verdict()) for i in (1, 2, 3))
    seen: list[Any] = []
    first.add_done_callback(lambda v: 1 / 0)  # a bug in one request's callback ...
    second.add_done_callback(lambda v: seen.append(type(v.exception())))
    third.add_done_callback(lambda v: seen.append(v.result()))
    await batcher.submit(4)
    assert seen == [ValueError, 3]  # ... is logged; the others are answered
    assert "callback failed" in caplog.text
    with pytest.raises(ValueError):
        second.result()


async def test_a_verdict_of_a_round_trip_past_the_timeout_is_unavailable() -> None:
    async def flush(reqs: list[int]) -> list[Any]:
        await asyncio.sleep(5)
        return reqs

    batcher: Coalescer[int] = Coalescer(flush, timeout=0.05)
    got: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    batcher.enqueue_to(1, Verdict()).add_done_callback(lambda v: got.set_result(v.exception()))
    error = await asyncio.wait_for(got, 2)
    assert isinstance(error, CounterUnavailable) and "TimeoutError" in str(error)
    await batcher.close()


def test_a_verdict_answers_once_and_holds_one_callback() -> None:
    v = Verdict()
    with pytest.raises(asyncio.InvalidStateError):
        v.result()
    v.set_result(1)
    v.set_result(2)  # ignored
    v.set_exception(ValueError())  # ignored
    seen: list[Any] = []
    v.add_done_callback(lambda done: seen.append(done.result()))  # already answered: runs now
    assert seen == [1]
    waiting = Verdict()
    waiting.add_done_callback(seen.append)
    with pytest.raises(RuntimeError):  # a second one while the first waits
        waiting.add_done_callback(seen.append)

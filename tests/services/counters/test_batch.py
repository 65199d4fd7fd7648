"""The Coalescer: one round trip per batch, bounded by its timeout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubegate.services.counters.base import CounterUnavailable
from kubegate.services.counters.batch import Coalescer


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

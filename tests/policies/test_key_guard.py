"""Subscription-key guessing is throttled per client address."""

from __future__ import annotations

from kubegate.policies.key_guard import KeyGuard
from kubegate.services.counters import MemoryCounterStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_blocks_after_the_limit_then_lets_go() -> None:
    clock = Clock()
    guard = KeyGuard(MemoryCounterStore(clock=clock), limit=3, period=60, clock=clock)
    assert [await guard.failed("10.0.0.1", "api") for _ in range(3)] == [None, None, None]
    wait = await guard.failed("10.0.0.1", "api")
    assert wait is not None and 1 <= wait <= 60
    assert guard.blocked_for("10.0.0.1") == wait
    assert guard.blocked_for("10.0.0.2") is None  # other clients are not affected
    clock.now += wait + 1
    assert guard.blocked_for("10.0.0.1") is None
    assert await guard.failed("10.0.0.1", "api") is None  # the window moved on

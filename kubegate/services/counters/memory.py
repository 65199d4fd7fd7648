"""In-process counter store: exact within one process (one event loop).

All state lives in a ``CounterCore``; each call runs synchronously inside the
event loop, so concurrent tasks cannot interleave between check and update.
Use ``HostCounterClient`` instead when ``--workers`` > 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import DEFAULT_FAIL_MODE, FailMode, QuotaDecision, RateDecision
from .core import CounterCore


class MemoryCounterStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.core = CounterCore()
        self._clock = clock

    async def hit_rate(
        self, key: str, limit: int, period_s: int, cost: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> RateDecision:
        return self.core.hit_rate(key, limit, period_s, cost, self._clock() if now is None else now)

    def hit_rate_now(self, key: str, limit: int, period_s: int, cost: int = 1) -> RateDecision:
        """`hit_rate` without awaiting: this store answers in the caller (policies
        that find this method run as synchronous steps)."""
        return self.core.hit_rate(key, limit, period_s, cost, self._clock())

    def admit_now(self, key: str, limit: int, period_s: int, cost: int = 1) -> bool:
        """`hit_rate_now`'s verdict alone (see ``CounterCore.admit``), for arguments
        the caller checked once (``check_rate_args``)."""
        return self.core.admit(key, limit, period_s, cost, self._clock())

    async def hit_quota(
        self, key: str, calls: int | None, bandwidth_kb: int | None, period_s: int,
        anchor: float = 0.0, count_calls: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> QuotaDecision:
        t = self._clock() if now is None else now
        return self.core.hit_quota(key, calls, bandwidth_kb, period_s, anchor, count_calls, t)

    async def add_bandwidth(
        self, key: str, nbytes: int, period_s: int, anchor: float = 0.0, *,
        now: float | None = None,
    ) -> None:
        self.core.add_bandwidth(key, nbytes, period_s, anchor, self._clock() if now is None else now)

    async def close(self) -> None:
        return None

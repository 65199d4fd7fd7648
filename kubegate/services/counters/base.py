"""Counter-store contract shared by the memory, host and Redis stores.

A store answers two questions atomically per key:

* ``hit_rate``: may this request pass a *sliding* window of ``limit`` units per
  ``period_s`` seconds?  Admitted hits are recorded; rejected hits are not.
  ``cost=0`` only checks for room for one more unit (for increments that a
  policy defers to the end of the outbound pipeline) and records nothing.
* ``hit_quota``: may this request pass a *fixed* window quota whose periods are
  aligned to ``anchor`` (``period_s == 0`` means one lifetime period)?
  ``add_bandwidth`` adds request + response bytes after the response.

``now=None`` means "the store's own clock" (Redis uses its server ``TIME`` so
replicas with skewed clocks agree).  Stores that can become unreachable (host
client, Redis) never raise to the caller: the per-call ``fail_mode`` decides
between admitting (``fail-open``: logged and counted in ``FailureStats``) and a
decision with ``unavailable=True`` that the policy turns into a 503.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

FailMode = Literal["fail-open", "fail-closed"]
FAIL_OPEN: FailMode = "fail-open"
FAIL_CLOSED: FailMode = "fail-closed"
DEFAULT_FAIL_MODE: FailMode = FAIL_OPEN

log = logging.getLogger("kubegate.counters")


class CounterUnavailable(Exception):
    """The shared counter store could not be reached in time."""


class RateDecision(NamedTuple):
    """A rate-limit answer (a named tuple: made on every limited request)."""

    allowed: bool
    remaining: int
    retry_after_s: int
    total: int
    unavailable: bool = False
    message: str = ""


class QuotaDecision(NamedTuple):
    """A quota answer."""

    allowed: bool
    remaining_calls: int | None
    remaining_kb: int | None
    retry_after_s: int
    exceeded: str | None = None  # "calls" | "bandwidth" when denied by the quota
    unavailable: bool = False
    message: str = ""


class CounterStore(Protocol):
    async def hit_rate(
        self, key: str, limit: int, period_s: int, cost: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> RateDecision: ...

    async def hit_quota(
        self, key: str, calls: int | None, bandwidth_kb: int | None, period_s: int,
        anchor: float = 0.0, count_calls: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> QuotaDecision: ...

    async def add_bandwidth(
        self, key: str, nbytes: int, period_s: int, anchor: float = 0.0, *,
        now: float | None = None,
    ) -> None: ...

    async def close(self) -> None: ...


def check_rate_args(limit: int, period_s: int, cost: int) -> None:
    if limit < 0 or period_s <= 0 or cost < 0:
        raise ValueError(f"bad rate limit arguments: limit={limit} period={period_s} cost={cost}")


def check_quota_args(calls: int | None, bandwidth_kb: int | None, period_s: int) -> None:
    if calls is None and bandwidth_kb is None:
        raise ValueError("a quota needs calls and/or bandwidth")
    if period_s < 0 or (calls is not None and calls < 0) or (bandwidth_kb or 0) < 0:
        raise ValueError(f"bad quota arguments: calls={calls} kb={bandwidth_kb} period={period_s}")


def window_index(now: float, period_s: int, anchor: float) -> int:
    """Index of the fixed window containing ``now``; periods start at ``anchor + i*period``."""
    return 0 if period_s == 0 else math.floor((now - anchor) / period_s)


def window_end(now: float, period_s: int, anchor: float) -> float | None:
    if period_s == 0:
        return None
    return anchor + (window_index(now, period_s, anchor) + 1) * period_s


def ceil_s(seconds: float) -> int:
    """Whole seconds to wait, at least 1 (APIM never says "try again in 0 seconds")."""
    return max(1, math.ceil(seconds - 1e-9))


@dataclass
class FailureStats:
    """Counts of store failures, for metrics (``fail_open`` = admitted without counting)."""

    errors: int = 0
    fail_open: int = 0
    fail_closed: int = 0
    last_error: str = ""
    _last_log: float = -1e9

    def record(self, exc: BaseException, mode: FailMode, what: str) -> None:
        self.errors += 1
        if mode == FAIL_OPEN:
            self.fail_open += 1
        else:
            self.fail_closed += 1
        self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        mono = time.monotonic()
        if mono - self._last_log >= 5.0:  # at most one line per 5 s, with the running count
            self._last_log = mono
            log.warning("counter store unavailable (%s, %s, %d failures so far): %s",
                        what, mode, self.errors, self.last_error)


T = TypeVar("T")


STORE_FAILURES = (CounterUnavailable, OSError, TimeoutError, ConnectionError)


async def guarded(
    call: Callable[[], Awaitable[T]], mode: FailMode, stats: FailureStats, what: str,
    on_open: Callable[[], T], on_closed: Callable[[str], T],
) -> T:
    """Run ``call``; on a store failure return the fail-mode decision instead of raising."""
    try:
        return await call()
    except STORE_FAILURES as exc:
        return failed(exc, mode, stats, what, on_open, on_closed)


def failed(exc: BaseException, mode: FailMode, stats: FailureStats, what: str,
           on_open: Callable[[], T], on_closed: Callable[[str], T]) -> T:
    """The fail-mode decision for a store failure `exc` (recorded in `stats`)."""
    stats.record(exc, mode, what)
    if mode == FAIL_OPEN:
        return on_open()
    return on_closed(f"Rate limit and quota store is unavailable ({stats.last_error}).")


def soon_decision(done: Any, limit: int, fail_mode: FailMode, stats: FailureStats,
                  read: Callable[[Any], RateDecision]) -> RateDecision:
    """The decision of a finished `hit_rate_soon` future (of a store answering through
    futures): `read(answer)`, or the fail-mode decision when the store failed."""
    error = done.exception()
    if error is not None:
        if isinstance(error, STORE_FAILURES):
            return failed(error, fail_mode, stats, "rate-limit", lambda: open_rate(limit),
                          lambda m: closed_rate(limit, m))
        raise error
    return read(done.result())


def open_rate(limit: int) -> RateDecision:
    return RateDecision(True, limit, 0, limit, unavailable=True)


def closed_rate(limit: int, message: str) -> RateDecision:
    return RateDecision(False, 0, 0, limit, unavailable=True, message=message)


def open_quota(calls: int | None, kb: int | None) -> QuotaDecision:
    return QuotaDecision(True, calls, kb, 0, unavailable=True)


def closed_quota(message: str) -> QuotaDecision:
    return QuotaDecision(False, None, None, 0, unavailable=True, message=message)

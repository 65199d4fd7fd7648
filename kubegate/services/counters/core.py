"""Exact, synchronous counting state used by the memory store and the host server.

Rate limits keep a log per key: the timestamps and costs of admitted hits, in two
parallel lists (plain floats and ints: no tuple per hit for the garbage collector
to trace while a busy key holds a whole period's hits) read from a ``head`` index
(dropping an entry moves the index; the dropped prefix is cut off once it is most
of the lists), plus the running sum of their costs.  A hit at ``now`` sees exactly the
entries with ``timestamp > now - period`` (older ones are dropped first), so
"at most ``limit`` units in any window of ``period`` seconds" holds exactly.
Memory per key is O(admitted hits in one period): at most about twice ``limit``
entries, dropped ones included.

Quotas keep ``[window_index, calls, bytes]`` per key; a hit in a later window
resets the counts.  Every method runs to completion without awaiting, so a
single-threaded owner (one event loop) gets check-and-act atomicity for free.

Invariants: ``len(times) == len(costs)``; ``0 <= head <= len(times)``; the live
entries are ``times[head:]``/``costs[head:]``, with ``total == sum(costs[head:])``,
each newer than ``last_now - period``; idle keys are swept every ``SWEEP_EVERY`` calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from .base import (
    QuotaDecision,
    RateDecision,
    ceil_s,
    check_quota_args,
    check_rate_args,
    window_end,
    window_index,
)

SWEEP_EVERY: Final = 4096
COMPACT_AFTER: Final = 64  # dropped entries kept before the lists may be cut


class _Log:
    __slots__ = ("times", "costs", "head", "total", "period")

    def __init__(self, period: int) -> None:
        self.times: list[float] = []  # of each admitted hit, oldest first (live from head)
        self.costs: list[int] = []  # of the same hits
        self.head = 0
        self.total = 0
        self.period = period

    def expire(self, now: float) -> None:
        cutoff = now - self.period
        times = self.times
        head, n = self.head, len(times)
        if head == n or times[head] > cutoff:
            return
        costs = self.costs
        while head < n and times[head] <= cutoff:
            self.total -= costs[head]
            head += 1
        if head == n:
            del times[:], costs[:]
            head = 0
        elif head > COMPACT_AFTER and 2 * head > n:  # amortised: each entry moves once
            del times[:head], costs[:head]
            head = 0
        self.head = head

    def record(self, now: float, cost: int) -> None:
        self.times.append(now)
        self.costs.append(cost)
        self.total += cost

    def idle_since(self, cutoff: float) -> bool:
        """Whether no live entry is newer than `cutoff`."""
        return self.head == len(self.times) or self.times[-1] <= cutoff

    def entries(self) -> Iterator[tuple[float, int]]:
        """The live (time, cost) entries, oldest first."""
        head = self.head
        return zip(self.times[head:], self.costs[head:], strict=True)


class CounterCore:
    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._quotas: dict[str, list[int]] = {}  # key -> [window, calls, bytes]
        self._quota_period: dict[str, tuple[int, float]] = {}
        self._ops = 0

    def hit_rate(self, key: str, limit: int, period_s: int, cost: int, now: float) -> RateDecision:
        check_rate_args(limit, period_s, cost)
        log = self._log_at(key, period_s, now)
        units = cost or 1  # cost 0 = check for room for one more, record nothing
        if log.total + units <= limit:
            if cost:
                log.record(now, cost)
            return RateDecision(True, limit - log.total, 0, limit)
        if units > limit:  # can never pass; say "one full period"
            return RateDecision(False, max(0, limit - log.total), period_s, limit)
        need, freed = log.total + units - limit, 0
        for ts, c in log.entries():
            freed += c
            if freed >= need:
                return RateDecision(False, limit - log.total, ceil_s(ts + period_s - now), limit)
        raise AssertionError("log total out of sync")  # pragma: no cover

    def admit(self, key: str, limit: int, period_s: int, cost: int, now: float) -> bool:
        """`hit_rate`'s verdict alone, for arguments checked beforehand (a policy's
        fixed limit): records an admitted hit exactly as `hit_rate` does; no decision
        object is made. This is the per-request path of the usual rate limits."""
        log = self._log_at(key, period_s, now)
        if log.total + (cost or 1) <= limit:
            if cost:
                log.record(now, cost)
            return True
        return False

    def _log_at(self, key: str, period_s: int, now: float) -> _Log:
        """The key's log (made when missing), its entries older than the window dropped."""
        self._tick(now)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log(period_s)
        log.period = period_s
        log.expire(now)
        return log

    def hit_quota(
        self, key: str, calls: int | None, bandwidth_kb: int | None, period_s: int,
        anchor: float, count_calls: int, now: float,
    ) -> QuotaDecision:
        check_quota_args(calls, bandwidth_kb, period_s)
        self._tick(now)
        state = self._state(key, period_s, anchor, now)
        end = window_end(now, period_s, anchor)
        retry = 0 if end is None else ceil_s(end - now)
        bw_bytes = None if bandwidth_kb is None else bandwidth_kb * 1024
        exceeded = None
        if calls is not None and state[1] + count_calls > calls:
            exceeded = "calls"
        elif bw_bytes is not None and state[2] >= bw_bytes:
            exceeded = "bandwidth"
        else:
            state[1] += count_calls
        rem_calls = None if calls is None else max(0, calls - state[1])
        rem_kb = None if bw_bytes is None else max(0, bw_bytes - state[2]) // 1024
        if exceeded:
            return QuotaDecision(False, rem_calls, rem_kb, retry, exceeded)
        return QuotaDecision(True, rem_calls, rem_kb, 0)

    def add_bandwidth(self, key: str, nbytes: int, period_s: int, anchor: float, now: float) -> None:
        if nbytes < 0 or period_s < 0:
            raise ValueError("bytes and period must not be negative")
        self._state(key, period_s, anchor, now)[2] += nbytes

    def _state(self, key: str, period_s: int, anchor: float, now: float) -> list[int]:
        idx = window_index(now, period_s, anchor)
        state = self._quotas.get(key)
        if state is None or state[0] != idx:
            state = self._quotas[key] = [idx, 0, 0]
        self._quota_period[key] = (period_s, anchor)
        return state

    def _tick(self, now: float) -> None:
        self._ops += 1
        if self._ops % SWEEP_EVERY == 0:
            self.sweep(now)

    def sweep(self, now: float) -> None:
        """Drop rate logs with nothing in the window and quotas whose window has passed."""
        for key in [k for k, lg in self._logs.items() if lg.idle_since(now - lg.period)]:
            del self._logs[key]
        for key, (period, anchor) in list(self._quota_period.items()):
            if period and self._quotas[key][0] < window_index(now, period, anchor):
                del self._quotas[key], self._quota_period[key]

    def __len__(self) -> int:
        return len(self._logs) + len(self._quotas)

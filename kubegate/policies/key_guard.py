"""Throttling of subscription-key guessing, per client address.

How this works: every invalid key a client presents is counted in the counter
store (memory, host-wide or Redis, like rate limits) under that client's
address; past `limit` invalid keys in `period` seconds the client is blocked
for the rest of the window: its invalid keys get 429 instead of 401, without a
store call (each worker keeps the blocks it learned in memory), and one warning
is logged per client and window. Valid keys keep working, so clients sharing an
address (NAT) and a key that is still propagating are not locked out; with
128-bit random keys guessing is hopeless anyway — the point is to make it
visible and cheap to refuse.

Invariant: `blocked` and `warned` never exceed MAX_CLIENTS entries.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kubegate.keys")
MAX_CLIENTS = 100_000


class KeyGuard:
    def __init__(self, counters: Any, limit: int = 20, period: int = 60,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counters = counters
        self.limit = limit
        self.period = period
        self.clock = clock
        self.blocked: dict[str, float] = {}  # client address -> blocked until (clock)

    def blocked_for(self, client: str) -> int | None:
        """Seconds this client stays blocked, or None."""
        until = self.blocked.get(client)
        if until is None:
            return None
        left = until - self.clock()
        if left <= 0:
            del self.blocked[client]
            return None
        return max(1, math.ceil(left))

    async def failed(self, client: str, api: str) -> int | None:
        """Count one invalid key; the seconds to wait when that was one too many."""
        decision = await self.counters.hit_rate(f"kg-badkey:{client}", self.limit, self.period)
        if decision.allowed:
            return None
        retry = max(1, int(decision.retry_after_s) or self.period)
        if len(self.blocked) >= MAX_CLIENTS:
            self.blocked.clear()
        if client not in self.blocked:
            log.warning("subscription key brute force: %s sent more than %d invalid keys in "
                        "%d s (API %s); blocked for %d s", client, self.limit, self.period,
                        api, retry)
        self.blocked[client] = self.clock() + retry
        return retry

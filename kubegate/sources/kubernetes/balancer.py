"""Balancer over a changing set of backend addresses.

Strategies: "round-robin" (a cursor over the sorted address list) and
"least-requests" (fewest requests in flight; ties go round-robin). `pick()`
counts a request in flight for the chosen address and `release(addr)` ends it.
`mark_failed(addr, now)` takes an address that refused a connection out of
rotation for `fail_timeout` seconds (clock injectable).

Invariants: `pick()` never returns an address outside the current set; when
every address is marked failed it still picks one (better a retry than a
certain 503); in-flight counts survive `update()` so a removed (draining)
address can still be released.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from kubegate.sources.kubernetes.resolve import Address

STRATEGIES = ("round-robin", "least-requests")


class NoAddress(LookupError):
    """The balancer has no address to offer."""


class Balancer:
    def __init__(
        self,
        addresses: Iterable[Address],
        strategy: str = "round-robin",
        *,
        fail_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}: {strategy!r}")
        self.strategy = strategy
        self.fail_timeout = fail_timeout
        self.clock = clock
        self.addresses: list[Address] = []
        self.inflight: dict[Address, int] = {}
        self.failed_until: dict[Address, float] = {}
        self._cursor = 0
        self.update(addresses)

    def update(self, addresses: Iterable[Address]) -> None:
        self.addresses = sorted(set(addresses))
        keep = set(self.addresses)
        self.failed_until = {a: t for a, t in self.failed_until.items() if a in keep}
        self.inflight = {a: n for a, n in self.inflight.items() if a in keep or n > 0}

    def _healthy(self) -> list[Address]:
        if not self.failed_until:
            return self.addresses
        now = self.clock()
        for addr, until in list(self.failed_until.items()):
            if until <= now:
                del self.failed_until[addr]
        return [a for a in self.addresses if a not in self.failed_until] or self.addresses

    def pick(self) -> Address:
        candidates = self._healthy()
        if not candidates:
            raise NoAddress("no ready backend address")
        n = len(candidates)
        start = self._cursor % n
        self._cursor = start + 1
        if self.strategy == "least-requests":
            order = candidates[start:] + candidates[:start]
            addr = min(order, key=lambda a: self.inflight.get(a, 0))
        else:
            addr = candidates[start]
        self.inflight[addr] = self.inflight.get(addr, 0) + 1
        return addr

    def release(self, addr: Address) -> None:
        count = self.inflight.get(addr, 0) - 1
        if count > 0:
            self.inflight[addr] = count
        else:
            self.inflight.pop(addr, None)

    def mark_failed(self, addr: Address, now: float | None = None) -> None:
        if addr in self.addresses:
            self.failed_until[addr] = (self.clock() if now is None else now) + self.fail_timeout

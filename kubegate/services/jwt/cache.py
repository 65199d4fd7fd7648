"""Cache of verified tokens, so a repeated token costs one dictionary look-up.

Keyed by (verifier tag, exact token string): a token verified under one rule set is never
accepted under another. An entry lives until the token's exp + clock skew (or `no_exp_ttl`
when the token has no exp); expired entries are dropped on read. The cache is bounded: when
full, expired entries are purged, then the oldest insertions are evicted.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class TokenCache(Generic[T]):
    def __init__(self, max_entries: int = 10000) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[int, str], tuple[float, T]] = {}

    def get(self, tag: int, token: str, now: float) -> T | None:
        entry = self._entries.get((tag, token))
        if entry is None:
            return None
        if now >= entry[0]:
            del self._entries[(tag, token)]
            return None
        return entry[1]

    def put(self, tag: int, token: str, value: T, until: float, now: float) -> None:
        if until <= now:
            return
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[(tag, token)] = (until, value)

    def __len__(self) -> int:
        return len(self._entries)

"""The in-memory subscription key index the data plane looks keys up in.

How it works: the index is one dict, SHA-256(key) hex -> SubscriptionInfo, built
from the store's subscriptions (which hold only key hashes) plus the static
subscriptions declared in YAML (whose plain keys are hashed at load). `lookup`
hashes the presented key and does one dict look-up: no database access, no I/O,
safe to call on the event loop. The found entry's hash is compared to the
computed one with `hmac.compare_digest`; the dict probe itself depends only on a
hash of the secret, which gives an attacker nothing to work with. Keys found are
also remembered by their text (a dict whose probe compares process-keyed SipHash
values), so a busy key is hashed once per index, not per request.

Invariants:
* a reload builds a complete new dict and swaps one reference, so a lookup sees
  either the old index or the new one, never a mix;
* a failed reload keeps the last good index (requests keep being served), marks
  the index unhealthy, and the refresher retries with exponential backoff;
* entries of every state are indexed, so a caller can tell a suspended or
  expired subscription (403) from an unknown key (401);
* a configuration reload replaces the declared (static) subscriptions and
  products at once (`set_static`), next to the store's last loaded entries.

Freshness (the refresher, `run`): all database I/O runs in a worker thread
(`asyncio.to_thread`, synchronous drivers). With PostgreSQL the thread waits on
LISTEN for the store's NOTIFY (sent on commit of every change), and the change
counter is also polled every `poll_interval` as a safety net; with SQLite the
counter is polled every `poll_interval` (one single-row SELECT). A reload
happens only when the counter differs from the one last loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kubegate.model import config
from kubegate.services.keys_source import KeyEntryLike, KeySource, ProductLike

log = logging.getLogger("kubegate.keys")
KeyName = Literal["primary", "secondary"]


RECENT_KEYS = 4096  # presented keys remembered by KeyIndex.lookup


def hash_key(key: str) -> str:
    """SHA-256 hex of a key; the store hashes with the same function."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    id: str
    name: str
    scope: str
    state: str
    product: str | None
    api: str | None
    user: str | None
    expires: datetime | None
    key: KeyName
    key_hash: str
    allow_tracing: bool = False
    static: bool = False

    def effective_state(self, now: datetime) -> str:
        """The state, with an active subscription past its `expires` reported as expired."""
        if self.state == "active" and self.expires is not None and now >= self.expires:
            return "expired"
        return self.state


@dataclass(frozen=True, slots=True)
class ProductInfo:
    name: str
    subscription_required: bool
    approval_required: bool
    apis: frozenset[str]


def _info(e: KeyEntryLike, which: KeyName, key_hash: str, static: bool) -> SubscriptionInfo:
    kind, _, target = e.scope.partition(":")
    return SubscriptionInfo(
        e.id, e.name, e.scope, e.state, target if kind == "product" else None,
        target if kind == "api" else None, e.owner_id, e.expires, which, key_hash,
        e.allow_tracing, static)


@dataclass(frozen=True)
class _StaticEntry:
    id: str
    name: str
    scope: str
    state: str
    primary_hash: str
    secondary_hash: str
    owner_id: str | None = None
    expires: datetime | None = None
    allow_tracing: bool = False


def _static_entry(s: config.Subscription) -> _StaticEntry:
    return _StaticEntry(f"static:{s.name}", s.name, s.scope, s.state,
                        hash_key(s.primary_key) if s.primary_key else "",
                        hash_key(s.secondary_key) if s.secondary_key else "")


def _product(p: ProductLike) -> ProductInfo:
    return ProductInfo(p.name, p.subscription_required, p.approval_required, frozenset(p.apis))


class KeyIndex:
    def __init__(self, source: KeySource | None = None, *,
                 static_subscriptions: Iterable[config.Subscription] = (),
                 static_products: Iterable[config.Product] = (),
                 poll_interval: float = 1.0, max_backoff: float = 30.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.source = source
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._static = [_static_entry(s) for s in static_subscriptions]
        self._static_products = {p.name: _product(p) for p in static_products}
        self._keys: dict[str, SubscriptionInfo] = {}
        self._products: dict[str, ProductInfo] = dict(self._static_products)
        self._entries: list[KeyEntryLike] = []  # the store's, as last loaded
        self._store_products: list[ProductLike] = []
        self.version: int | None = None
        self.healthy = source is None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._build([], [])

    def __len__(self) -> int:
        return len(self._keys)

    # -- the data plane's side -------------------------------------------------
    def lookup(self, key: str) -> SubscriptionInfo | None:
        """The subscription a presented key belongs to, or None. Keys found are kept
        (up to RECENT_KEYS, until the index is rebuilt) so that a busy key is hashed
        once, not per request; unknown keys are never kept."""
        keys, recent = self._current
        info = recent.get(key)
        if info is not None:
            return info
        digest = hash_key(key)
        info = keys.get(digest)
        if info is None or not hmac.compare_digest(info.key_hash, digest):
            return None
        if len(recent) >= RECENT_KEYS:
            recent.clear()
        recent[key] = info
        return info

    def product(self, name: str) -> ProductInfo | None:
        return self._products.get(name)

    def allows(self, info: SubscriptionInfo, api: str) -> bool:
        """Does the subscription's scope cover the API named `api`?"""
        if info.scope == "all":
            return True
        if info.api is not None:
            return info.api == api
        product = self._products.get(info.product or "")
        return product is not None and api in product.apis

    # -- loading -----------------------------------------------------------------
    def _build(self, entries: Iterable[KeyEntryLike], products: Iterable[ProductLike]) -> None:
        keys: dict[str, SubscriptionInfo] = {}
        for static, group in ((False, entries), (True, self._static)):
            for e in group:
                for which, h in (("primary", e.primary_hash), ("secondary", e.secondary_hash)):
                    if not h:
                        continue
                    if h in keys:
                        log.warning("subscription %r: a key is also used by %r; %r wins",
                                    e.id, keys[h].id, e.id)
                    keys[h] = _info(e, which, h, static)  # type: ignore[arg-type]
        prods = {p.name: _product(p) for p in products}
        prods.update(self._static_products)  # YAML declarations win over the store
        self._keys, self._products = keys, prods
        # the dict lookup reads and the keys it found, swapped as one reference (load
        # runs in a thread): a key found in an old index is never kept in a new one
        self._current: tuple[dict[str, SubscriptionInfo], dict[str, SubscriptionInfo]] = (
            keys, {})
        self.generation: object = self._current
        """A new object whenever the index is rebuilt: what a caller derived from
        lookups holds while this is the same object (SubscriptionGate.admit_head)."""

    def load(self) -> int:
        """Synchronous full load from the source; returns the version loaded. Raises on failure."""
        if self.source is None:
            return 0
        # The counter is read first: a change landing between the two reads leaves
        # an older number with newer data, so the next check reloads (never the reverse).
        version = self.source.version()
        entries = list(self.source.key_entries())
        products = list(self.source.product_entries())
        self._build(entries, products)
        self._entries, self._store_products = entries, products
        self.version = version
        return version

    def set_static(self, subscriptions: Iterable[config.Subscription],
                   products: Iterable[config.Product]) -> None:
        """A reloaded configuration's declared subscriptions and products replace the
        previous ones at once (a key removed from the file stops working)."""
        self._static = [_static_entry(s) for s in subscriptions]
        self._static_products = {p.name: _product(p) for p in products}
        self._build(self._entries, self._store_products)
        if self.source is not None:
            self.version = None  # a load racing in its thread may have used the old ones

    async def refresh(self) -> bool:
        """Reload (in a thread) if the source's change counter moved; True if reloaded."""
        if self.source is None:
            return False
        if self.version is not None and await asyncio.to_thread(self.source.version) == self.version:
            return False
        await asyncio.to_thread(self.load)
        return True

    # -- the refresher -------------------------------------------------------------
    async def run(self) -> None:
        """Keep the index fresh until cancelled; never raises a store error."""
        if self.source is None:
            return
        backoff = self.poll_interval
        check_now = True  # at start and after a backoff: check at once
        while True:
            try:
                if not check_now:
                    if self.source.supports_notify:
                        await asyncio.to_thread(self.source.wait_for_change, self.poll_interval)
                    else:
                        await self._sleep(self.poll_interval)
                check_now = False
                if await self.refresh():
                    log.debug("key index reloaded: version %s, %d keys", self.version, len(self))
                if not self.healthy:
                    log.info("key index: store reachable again (version %s)", self.version)
                self.healthy, self.last_error, backoff = True, None, self.poll_interval
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the store is down or broken: keep serving the last index
                (log.warning if self.healthy else log.debug)(
                    "key index: cannot refresh (%s); serving the last index, retry in %.1fs",
                    e, backoff)
                self.healthy, self.last_error = False, str(e)
                await self._sleep(backoff)
                backoff, check_now = min(backoff * 2, self.max_backoff), True

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="key-index")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

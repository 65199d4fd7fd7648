"""KeyIndex with an in-memory source: no database, no real time."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from kubegate.model.config import Product, Subscription
from kubegate.services.keys import KeyIndex, KeySource, hash_key


def h(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    id: str
    name: str
    scope: str
    primary_hash: str
    secondary_hash: str
    state: str = "active"
    owner_id: str | None = None
    expires: datetime | None = None
    allow_tracing: bool = False


@dataclass(frozen=True)
class Prod:
    name: str
    apis: tuple[str, ...]
    subscription_required: bool = True
    approval_required: bool = False


@dataclass
class FakeSource:
    entries: list[Entry] = field(default_factory=list)
    products: list[Prod] = field(default_factory=list)
    counter: int = 1
    down: bool = False
    supports_notify: bool = False
    loads: int = 0
    waits: int = 0

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("store unavailable")

    def version(self) -> int:
        self._check()
        return self.counter

    def key_entries(self) -> list[Entry]:
        self._check()
        self.loads += 1
        return list(self.entries)

    def product_entries(self) -> list[Prod]:
        self._check()
        return list(self.products)

    def wait_for_change(self, timeout: float) -> bool:
        self.waits += 1
        self._check()
        return False


class Sleeper:
    """An injected sleep: records the delays, runs `each` step, stops after `limit` calls."""

    def __init__(self, limit: int, each: object = None) -> None:
        self.delays: list[float] = []
        self.limit = limit
        self.each = each

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if callable(self.each):
            self.each(len(self.delays))
        if len(self.delays) >= self.limit:
            raise asyncio.CancelledError


def make_source() -> FakeSource:
    return FakeSource(
        entries=[Entry("s1", "alice", "product:starter", h("p1"), h("s1"), owner_id="u1"),
                 Entry("s2", "bob", "api:echo", h("p2"), h("s2"), state="suspended"),
                 Entry("s3", "ops", "all", h("p3"), h("s3"), allow_tracing=True)],
        products=[Prod("starter", ("echo", "pets"))])


def test_the_fake_source_has_the_protocols_shape() -> None:
    source: KeySource = make_source()
    assert source.version() == 1


def test_lookup_by_either_key() -> None:
    index = KeyIndex(make_source())
    assert index.load() == 1 and len(index) == 6
    a = index.lookup("p1")
    assert a is not None and (a.id, a.key, a.product, a.api, a.user) == (
        "s1", "primary", "starter", None, "u1")
    b = index.lookup("s2")
    assert b is not None and (b.id, b.key, b.state, b.api, b.product) == (
        "s2", "secondary", "suspended", "echo", None)
    assert index.lookup("p3").allow_tracing is True  # type: ignore[union-attr]
    assert index.lookup("nope") is None and index.lookup("") is None
    assert index.lookup(h("p1")) is None  # the hash itself is not a key


def test_scope_checks() -> None:
    index = KeyIndex(make_source())
    index.load()
    alice, bob, ops = (index.lookup(k) for k in ("p1", "p2", "p3"))
    assert alice and bob and ops
    assert index.allows(alice, "pets") and not index.allows(alice, "billing")
    assert index.allows(bob, "echo") and not index.allows(bob, "pets")
    assert index.allows(ops, "anything")
    assert index.product("starter") is not None and index.product("gold") is None


def test_static_yaml_subscriptions_and_products() -> None:
    index = KeyIndex(
        make_source(),
        static_subscriptions=[
            Subscription(name="ci", scope="product:starter", primary_key="static-1"),
            Subscription(name="old", scope="all", primary_key="static-2",
                         secondary_key="static-3", state="cancelled")],
        static_products=[Product(name="starter", apis=["only"])])
    index.load()
    ci = index.lookup("static-1")
    assert ci is not None and ci.static and ci.id == "static:ci" and ci.state == "active"
    assert index.lookup("static-3").state == "cancelled"  # type: ignore[union-attr]
    assert index.allows(ci, "only") and not index.allows(ci, "echo")  # YAML product wins
    assert index.lookup("p1") is not None
    alone = KeyIndex(static_subscriptions=[Subscription(name="x", scope="all",
                                                        secondary_key="k")])
    assert len(alone) == 1 and alone.lookup("k").key == "secondary"  # type: ignore[union-attr]
    assert alone.healthy


def test_reloaded_static_subscriptions_replace_the_old_ones() -> None:
    index = KeyIndex(make_source(), static_subscriptions=[
        Subscription(name="ci", scope="all", primary_key="static-1")])
    index.load()
    assert index.lookup("static-1") is not None and index.lookup("p1") is not None
    index.set_static([Subscription(name="new", scope="product:gold", primary_key="static-9")],
                     [Product(name="gold", apis=["only"])])
    assert index.lookup("static-1") is None  # removed from the file: refused at once
    new = index.lookup("static-9")
    assert new is not None and index.allows(new, "only") and not index.allows(new, "echo")
    assert index.lookup("p1") is not None  # the store's keys stay
    assert index.version is None  # the refresher reloads the store with the new ones


def test_a_key_seen_before_a_reload_is_looked_up_in_the_new_index() -> None:
    source = make_source()
    index = KeyIndex(source)
    index.load()
    assert index.lookup("p1").state == "active"  # type: ignore[union-attr]
    assert index.lookup("p1") is index.lookup("p1")  # remembered: hashed once
    source.entries[0] = Entry("s1", "alice", "product:starter", h("p1"), h("s1"),
                              state="suspended")
    source.entries.pop(2)
    index.load()
    assert index.lookup("p1").state == "suspended"  # type: ignore[union-attr]
    assert index.lookup("p3") is None  # deleted: refused at once


def test_effective_state_counts_the_expiry_date() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    source = FakeSource(entries=[
        Entry("e", "e", "all", h("a"), h("b"), expires=now),
        Entry("f", "f", "all", h("c"), h("d"), expires=now + timedelta(seconds=1))])
    index = KeyIndex(source)
    index.load()
    assert index.lookup("a").effective_state(now) == "expired"  # type: ignore[union-attr]
    assert index.lookup("c").effective_state(now) == "active"  # type: ignore[union-attr]


async def test_refresh_reloads_only_when_the_version_moves() -> None:
    source = make_source()
    index = KeyIndex(source)
    assert await index.refresh() is True and source.loads == 1
    assert await index.refresh() is False and source.loads == 1
    source.entries.append(Entry("s4", "new", "all", h("p4"), h("s4")))
    assert index.lookup("p4") is None
    source.counter += 1
    assert await index.refresh() is True and index.lookup("p4") is not None


async def test_store_down_keeps_the_last_index_and_backs_off_then_recovers() -> None:
    source = make_source()

    def step(n: int) -> None:
        if n == 1:  # the first poll interval passed: the store goes down
            source.down = True
        if n == 5:  # comes back, with a change made meanwhile
            source.down = False
            source.entries.append(Entry("s4", "new", "all", h("p4"), h("s4")))
            source.counter += 1
        if n == 4:
            assert not index.healthy and "unavailable" in (index.last_error or "")
            assert index.lookup("p1") is not None  # still served

    sleeper = Sleeper(limit=7, each=step)
    index = KeyIndex(source, poll_interval=1.0, max_backoff=4.0, sleep=sleeper)
    with pytest.raises(asyncio.CancelledError):
        await index.run()
    # 1 s poll, failures back off 1, 2, 4 (capped), then normal polling again
    assert sleeper.delays == [1.0, 1.0, 2.0, 4.0, 4.0, 1.0, 1.0]
    assert index.healthy and index.last_error is None
    assert index.lookup("p4") is not None and index.version == 2


async def test_a_store_down_at_start_serves_static_keys_until_it_returns() -> None:
    source = make_source()
    source.down = True

    def step(n: int) -> None:
        source.down = n < 2

    index = KeyIndex(source, static_subscriptions=[Subscription(name="s", scope="all",
                                                                primary_key="k")],
                     sleep=Sleeper(limit=3, each=step))
    assert index.lookup("k") is not None and not index.healthy
    with pytest.raises(asyncio.CancelledError):
        await index.run()
    assert index.lookup("p1") is not None and index.lookup("k") is not None


async def test_with_notifications_the_refresher_waits_on_them_not_on_sleep() -> None:
    source = make_source()
    source.supports_notify = True
    sleeper = Sleeper(limit=1)

    original = source.wait_for_change

    def wait(timeout: float) -> bool:
        assert timeout == 0.5
        if source.waits >= 3:
            source.down = True
        return original(timeout)

    source.wait_for_change = wait  # type: ignore[method-assign]
    index = KeyIndex(source, poll_interval=0.5, sleep=sleeper)
    with pytest.raises(asyncio.CancelledError):
        await index.run()
    assert source.waits == 4 and sleeper.delays == [0.5]  # slept only once the store failed


async def test_start_and_stop() -> None:
    gate = asyncio.Event()

    async def sleep(_: float) -> None:
        await gate.wait()

    index = KeyIndex(make_source(), sleep=sleep)
    task = index.start()
    assert index.start() is task
    for _ in range(50):
        if index.version == 1:
            break
        await asyncio.sleep(0)  # let the thread-backed first load finish
        await asyncio.to_thread(lambda: None)
    assert index.version == 1
    await index.stop()
    assert task.cancelled()


def test_hash_key_is_sha256_hex() -> None:
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

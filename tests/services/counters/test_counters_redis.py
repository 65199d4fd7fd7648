"""Redis specifics: batching, URLs, and an outage of a redis-server this test starts.

The outage test starts its own ``redis-server`` on a free port, stops it (and
also freezes it with SIGSTOP to simulate a hang), restarts it on the same port,
and checks fail-open, fail-closed, bounded latency and recovery with the same
store object.  Only processes started here are signalled, by their PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from kubegate.services.counters import FAIL_CLOSED, FAIL_OPEN, CounterStore
from kubegate.services.counters.redis_store import RedisCounterStore, make_redis_client

NOW = 1_700_000_000.0


async def test_concurrent_checks_share_round_trips(redis_store: CounterStore) -> None:
    assert isinstance(redis_store, RedisCounterStore)
    got = await asyncio.gather(*(redis_store.hit_rate("b", 40, 60, now=NOW) for _ in range(400)))
    assert sum(d.allowed for d in got) == 40
    assert redis_store.batcher.requests == 400
    assert redis_store.batcher.round_trips <= 2  # 400 checks, one pipeline (max_batch 512)


async def test_futures_of_checks_decide_exactly_like_awaited_checks(
        redis_store: CounterStore) -> None:
    """hit_rate_soon (the data plane's lane) shares the batch and the decisions."""
    assert isinstance(redis_store, RedisCounterStore)
    futures = [redis_store.hit_rate_soon("soon", 30, 60, now=NOW) for _ in range(100)]
    awaited = await asyncio.gather(*(redis_store.hit_rate("soon", 30, 60, now=NOW)
                                     for _ in range(10)))
    decisions = [redis_store.rate_decision(f, 30) for f in futures]
    assert all(f.done() for f in futures)
    assert sum(d.allowed for d in decisions) == 30 and not any(d.allowed for d in awaited)
    assert decisions[0].remaining == 29 and decisions[-1].retry_after_s == 60


async def test_futures_of_checks_follow_the_fail_mode_when_redis_is_away() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisCounterStore.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.25)
    try:
        futures = [store.hit_rate_soon("k", 5, 60, now=NOW) for _ in range(2)]
        await asyncio.wait(futures)
        opened = store.rate_decision(futures[0], 5, FAIL_OPEN)
        closed = store.rate_decision(futures[1], 5, FAIL_CLOSED)
        assert opened.allowed and opened.unavailable
        assert not closed.allowed and "store is unavailable" in closed.message
        assert store.stats.fail_open == 1 and store.stats.fail_closed == 1
    finally:
        await store.close()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6379/0",
                                 "unix:///tmp/redis.sock"])
def test_commands_are_packed_by_hiredis_into_the_same_bytes(url: str) -> None:
    from redis.asyncio.connection import Connection

    pool = make_redis_client(url).connection_pool
    connection = pool.connection_class()
    assert type(connection).__name__.startswith("Hiredis")
    args = ("EVALSHA", "0" * 40, 2, "kg:{k}:rz", "kg:{k}:rh", 1, "r", 2, 4, 100, 60, 1,
            repr(1_700_000_000.25), "Zürich")
    assert connection.pack_command(*args) == [b"".join(Connection().pack_command(*args))]
    assert connection.pack_command("SCRIPT LOAD", "return 1") == [
        b"".join(Connection().pack_command("SCRIPT LOAD", "return 1"))]


async def test_one_failing_operation_does_not_fail_its_batch(redis_store: CounterStore) -> None:
    """A batch runs every queued check in one script call; an operation that fails in
    Redis (its key holds another type) answers as unavailable, the others normally."""
    assert isinstance(redis_store, RedisCounterStore)
    z, _, _ = redis_store.keys_for("broken")
    await redis_store.client.set(z, "not a sorted set")
    try:
        results = await asyncio.gather(
            redis_store.hit_rate("fine", 5, 60, now=NOW),
            redis_store.hit_rate("broken", 5, 60, now=NOW, fail_mode=FAIL_CLOSED),
            redis_store.hit_quota("fine-q", 5, None, 3600, 0.0, now=NOW),
            return_exceptions=True)
    finally:
        await redis_store.client.delete(z)
    fine, broken, quota = results
    assert fine.allowed and quota.allowed  # type: ignore[union-attr]
    assert not broken.allowed and broken.unavailable  # type: ignore[union-attr]
    assert redis_store.batcher.round_trips == 1
    from kubegate.services.counters.redis_store import _SHAS
    assert (await redis_store.client.script_exists(_SHAS["batch"]))[0]  # one BATCH script call


async def test_keys_use_hash_tags_and_server_clock(redis_store: CounterStore) -> None:
    assert isinstance(redis_store, RedisCounterStore)
    z, h, q = redis_store.keys_for("user:42")
    assert {z[: z.index("}") + 1], h[: h.index("}") + 1], q[: q.index("}") + 1]} == {
        f"{redis_store.prefix}:{{user:42}}"}
    # now=None: the script reads Redis TIME, so the window is real time
    assert (await redis_store.hit_rate("t", 1, 300)).allowed
    late = await redis_store.hit_rate("t", 1, 300)
    assert not late.allowed and 295 <= late.retry_after_s <= 300
    assert (await redis_store.hit_quota("tq", 1, None, 3600, 0.0)).allowed
    assert not (await redis_store.hit_quota("tq", 1, None, 3600, 0.0)).allowed


def test_url_forms() -> None:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.cluster import RedisCluster

    plain = make_redis_client("redis://127.0.0.1:6379/2", timeout=0.3, max_connections=7)
    assert isinstance(plain, Redis) and isinstance(plain.connection_pool, BlockingConnectionPool)
    assert plain.connection_pool.max_connections == 7
    assert plain.connection_pool.connection_kwargs["socket_timeout"] == 0.3
    tls = make_redis_client("rediss://example:6380/0")
    assert isinstance(tls, Redis) and tls.connection_pool.connection_kwargs["host"] == "example"
    sentinel = make_redis_client("redis+sentinel://:pw@s1:26379,s2/mymaster/3")
    assert isinstance(sentinel, Redis)
    pool = sentinel.connection_pool
    assert pool.service_name == "mymaster"  # type: ignore[attr-defined]
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "pw"
    hosts = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
    assert [s.connection_pool.connection_kwargs["port"] for s in hosts] == [26379, 26379]
    assert isinstance(make_redis_client("redis://127.0.0.1:7000", cluster=True), RedisCluster)
    with pytest.raises(ValueError, match="unsupported Redis URL scheme"):
        make_redis_client("http://127.0.0.1")
    with pytest.raises(ValueError, match="service name"):
        make_redis_client("redis+sentinel://s1:26379")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case it is frozen
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def timed(coro: object) -> tuple[object, float]:
    t = time.monotonic()
    result = await coro  # type: ignore[misc]
    return result, time.monotonic() - t


async def test_outage_fail_modes_and_recovery(own_redis: RedisServer) -> None:
    store = RedisCounterStore.from_url(f"redis://127.0.0.1:{own_redis.port}/0", timeout=0.25)
    try:
        assert (await store.hit_rate("k", 2, 60, now=NOW)).allowed

        # 1. server gone: connection refused
        own_redis.stop()
        opened = await store.hit_rate("k", 2, 60, now=NOW, fail_mode=FAIL_OPEN)
        assert opened.allowed and opened.unavailable
        closed = await store.hit_rate("k", 2, 60, now=NOW, fail_mode=FAIL_CLOSED)
        assert not closed.allowed and closed.unavailable
        assert "store is unavailable" in closed.message
        quota = await store.hit_quota("k", 5, None, 60, 0.0, now=NOW, fail_mode=FAIL_CLOSED)
        assert not quota.allowed and quota.unavailable and quota.exceeded is None
        await store.add_bandwidth("k", 100, 60, 0.0, now=NOW)  # swallowed, counted
        assert store.stats.fail_open >= 2 and store.stats.fail_closed == 2

        # 2. server back (empty, no cached scripts): same store object recovers
        own_redis.start()
        await asyncio.sleep(0)
        got = [await store.hit_rate("r", 2, 60, now=NOW) for _ in range(3)]
        assert [(d.allowed, d.unavailable) for d in got] == [(True, False), (True, False), (False, False)]

        # 3. server hangs (SIGSTOP): every call returns within the timeout budget
        own_redis.signal(signal.SIGSTOP)
        load = [store.hit_rate("h", 100, 60, now=NOW, fail_mode=FAIL_CLOSED) for _ in range(50)]
        (results, elapsed) = await timed(asyncio.gather(*load))
        assert elapsed < 1.0, elapsed  # timeout 0.25 s; nothing hangs
        assert all(not d.allowed and d.unavailable for d in results)  # type: ignore[attr-defined]
        own_redis.signal(signal.SIGCONT)

        # 4. and recovers again, counting exactly
        deadline = time.monotonic() + 5
        while True:
            d = await store.hit_rate("after", 1, 60, now=NOW, fail_mode=FAIL_CLOSED)
            if not d.unavailable or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert d.allowed and not d.unavailable
        assert not (await store.hit_rate("after", 1, 60, now=NOW)).allowed
    finally:
        await store.close()


async def test_outage_under_concurrent_load_does_not_crash(own_redis: RedisServer) -> None:
    store = RedisCounterStore.from_url(f"redis://127.0.0.1:{own_redis.port}/0", timeout=0.25)
    decisions: list[bool] = []
    stop = asyncio.Event()

    async def client(i: int) -> None:
        while not stop.is_set():
            d = await store.hit_rate(f"load{i % 4}", 10**6, 60, fail_mode=FAIL_OPEN)
            decisions.append(d.unavailable)
            await asyncio.sleep(0.005)

    tasks = [asyncio.create_task(client(i)) for i in range(20)]
    try:
        await asyncio.sleep(0.2)
        own_redis.stop()
        await asyncio.sleep(0.3)
        own_redis.start()
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks)  # raises if any client crashed
        await store.close()
    assert any(decisions) and not all(decisions)
    assert not decisions[-1]  # recovered at the end


async def test_identical_hits_merged_in_a_batch_decide_as_if_sent_one_by_one(
        redis_store: CounterStore) -> None:
    """One batch of interleaved hits (two keys, costs 1 and 2, one check of room with
    cost 0) against the same hits sent one at a time: the same verdicts, remaining
    counts and retry-after; the merged ones are stored as one log entry per group."""
    assert isinstance(redis_store, RedisCounterStore)
    hits = [("m-a", 1), ("m-b", 2), ("m-a", 1), ("m-a", 0), ("m-b", 2), ("m-a", 1)] * 4
    merged = await asyncio.gather(*(redis_store.hit_rate(f"{key}-1", 7, 60, cost, now=NOW)
                                    for key, cost in hits))
    assert redis_store.batcher.round_trips == 1
    alone = [await redis_store.hit_rate(f"{key}-2", 7, 60, cost, now=NOW) for key, cost in hits]
    assert merged == alone
    assert sum(d.allowed for d in merged) == 7 + 2 + 3  # cost 1, room checks, cost 2
    same = await asyncio.gather(*(redis_store.hit_rate("m-c", 7, 60, now=NOW)
                                  for _ in range(12)))
    assert [d.remaining for d in same] == [6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0]
    assert [d.allowed for d in same] == [True] * 7 + [False] * 5
    z, _, _ = redis_store.keys_for("m-c")
    assert await redis_store.client.zcard(z) == 1  # 12 hits of cost 1: one entry of 7


def test_only_identical_counted_rate_hits_are_merged() -> None:
    from kubegate.services.counters.redis_store import answers_of, merged_rate_hits, run_answers
    ops = [("rate", ["z1", "h1"], [5, 60, 1, "-1"]), ("quota", ["q"], [1]),
           ("rate", ["z1", "h1"], [5, 60, 1, "-1"]), ("rate", ["z1", "h1"], [5, 60, 0, "-1"]),
           ("rate", ["z1", "h1"], [5, 60, 0, "-1"]), ("rate", ["z1", "h1"], [5, 30, 1, "-1"])]
    sent, places = merged_rate_hits(ops)
    assert sent == [("rate", ["z1", "h1"], [5, 60, 1, "-1", 2]), ops[1], ops[3], ops[4], ops[5]]
    assert places == [(0, 0), (1, -1), (0, 1), (2, -1), (3, -1), (4, 0)]
    assert merged_rate_hits(ops[3:]) == (ops[3:], None)
    # another hit on the same key ends a run: the order of hits on a key is kept
    interleaved = [ops[0], ops[3], ops[0], ("rate", ["z2", "h2"], [5, 60, 1, "-1"]), ops[0]]
    sent, places = merged_rate_hits(interleaved)
    assert sent == [ops[0], ops[3], ("rate", ["z1", "h1"], [5, 60, 1, "-1", 2]), interleaved[3]]
    assert places == [(0, 0), (1, -1), (2, 0), (3, 0), (2, 1)]
    assert run_answers([3, 9, 500], 4, 2) == [[1, 5, 0], [1, 7, 0], [1, 9, 0], [0, 9, 500]]
    sent, places = merged_rate_hits(interleaved)
    assert places is not None
    assert answers_of(interleaved, sent, places, [[1, 1, 0], [1, 1, 0], [2, 3, 0], [0, 5, 9]]) \
        == [[1, 1, 0], [1, 1, 0], [1, 2, 0], [0, 5, 9], [1, 3, 0]]
    same = [ops[0]] * 3
    sent, places = merged_rate_hits(same)
    assert sent == [("rate", ["z1", "h1"], [5, 60, 1, "-1", 3])] and places is not None
    assert answers_of(same, sent, places, [[2, 5, 700]]) == [[1, 4, 0], [1, 5, 0], [0, 5, 700]]

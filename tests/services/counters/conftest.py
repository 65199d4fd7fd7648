"""Fixtures: a store of each kind (memory, host server + client, real Redis).

Tests run with --import-mode=importlib, so helpers live here as fixtures.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from kubegate.services.counters import (
    CounterStore,
    HostCounterClient,
    MemoryCounterStore,
    start_host_counter_server,
)

REDIS_URL = os.environ.get("KUBEGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    """The shared Redis of the test environment; skips the test when it is absent."""
    if not redis_available():
        pytest.skip("no Redis at 127.0.0.1:6379")
    return REDIS_URL


async def cleanup(prefix: str) -> None:
    """Delete every key this test run created (they all start with ``prefix:``)."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def sock_path() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="kgc", dir="/tmp")  # short: Unix socket paths max ~107 bytes
    path = os.path.join(d, "c.sock")
    yield path
    if os.path.exists(path):
        os.unlink(path)
    os.rmdir(d)


@pytest.fixture
def prefix() -> str:
    return f"kgtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_prefix(redis_url: str, prefix: str) -> AsyncIterator[str]:
    """A key prefix for this test whose keys are deleted afterwards."""
    yield prefix
    await cleanup(prefix)


@pytest.fixture
async def redis_store(prefix: str) -> AsyncIterator[CounterStore]:
    async for s in _redis_store(prefix):
        yield s


async def _redis_store(prefix: str) -> AsyncIterator[CounterStore]:
    if not redis_available():
        pytest.skip("no Redis at 127.0.0.1:6379")
    from kubegate.services.counters.redis_store import RedisCounterStore

    store = RedisCounterStore.from_url(REDIS_URL, prefix=prefix, timeout=1.0)
    yield store
    await store.close()
    await cleanup(prefix)


def _no_clock() -> float:
    raise AssertionError("tests pass now= explicitly")


@pytest.fixture(params=["memory", "host", "redis"])
async def store(request: pytest.FixtureRequest, sock_path: str, prefix: str) -> AsyncIterator[CounterStore]:
    """Every semantic test runs against all three stores: they must agree."""
    if request.param == "memory":
        yield MemoryCounterStore(clock=_no_clock)
    elif request.param == "host":
        server = start_host_counter_server(sock_path)
        client = HostCounterClient(sock_path, timeout=1.0)
        yield client
        await client.close()
        server.close()
    else:
        async for s in _redis_store(prefix):
            yield s

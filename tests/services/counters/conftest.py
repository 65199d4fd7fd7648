"""Fixtures: a store of each kind (memory, host server + client, real Redis)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from counters_support import REDIS_URL, cleanup, redis_available

from kubegate.services.counters import (
    CounterStore,
    HostCounterClient,
    MemoryCounterStore,
    start_host_counter_server,
)


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

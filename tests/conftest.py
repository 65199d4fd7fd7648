"""Fixtures shared by several test folders."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from kubegate.services.counters.redis_store import RedisCounterStore
from tests.services.counters.conftest import REDIS_URL, cleanup, redis_available


@pytest.fixture
async def redis_counters() -> AsyncIterator[RedisCounterStore]:
    """A Redis counter store on the test Redis, with a key prefix of its own whose
    keys are deleted afterwards; skips the test when there is no Redis."""
    if not redis_available():
        pytest.skip("no Redis at 127.0.0.1:6379")
    prefix = f"kgtest-{uuid.uuid4().hex}"
    store = RedisCounterStore.from_url(REDIS_URL, prefix=prefix, timeout=1.0)
    yield store
    await store.close()
    await cleanup(prefix)

"""Helpers shared by the counter tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import os
import socket

import pytest

REDIS_URL = os.environ.get("KUBEGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason="no Redis at 127.0.0.1:6379")


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

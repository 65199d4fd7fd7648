"""resp.RespClient: the lean connection the Redis store's BATCH calls use."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis.asyncio import Redis

from kubegate.services.counters.resp import ReplyError, RespClient


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6380/2", {"host": "127.0.0.1", "port": 6380, "db": 2, "password": None}),
    ("redis://:s%40cret@cache:6379", {"host": "cache", "password": "s@cret", "db": 0}),
    ("redis://app:pw@cache/?db=4", {"username": "app", "password": "pw", "db": 4}),
    ("unix:///run/redis.sock?db=3", {"path": "/run/redis.sock", "db": 3}),
])
def test_urls_it_serves(url: str, expected: dict[str, object]) -> None:
    client = RespClient.from_url(url)
    assert client is not None
    assert {k: getattr(client, k) for k in expected} == expected


@pytest.mark.parametrize("url", ["rediss://cache:6379", "redis+sentinel://s:26379/main"])
def test_other_urls_stay_with_redis_py(url: str) -> None:
    assert RespClient.from_url(url) is None


async def test_replies_in_order_and_errors_as_exceptions(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    client = RespClient.from_url(base + "/5")
    assert client is not None
    key = "kg-test:resp:" + secrets.token_hex(4)
    try:
        got = await asyncio.gather(*(client.call("INCR", key) for _ in range(50)))
        assert sorted(got) == list(range(1, 51)) and got == sorted(got)  # one FIFO
        with pytest.raises(ReplyError, match="WRONGTYPE"):
            await client.call("LPUSH", key, "x")
        assert await client.call("PING") in (b"PONG", "PONG")
        check = Redis.from_url(base + "/5")  # SELECT reached the database the URL names
        assert await check.get(key) == b"50"
        await check.delete(key)
        await check.aclose()
    finally:
        await client.aclose()


async def test_a_silent_server_times_out_and_the_next_call_reconnects() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first = connections == 1
        while data := await reader.read(1024):
            if not first and data.startswith(b"*1\r\n$4\r\nPING"):
                writer.write(b"+PONG\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RespClient(port=port, timeout=0.1)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await client.call("PING")
        assert loop.time() - started < 1.0
        assert await client.call("PING") == b"PONG"  # a new connection answered
        assert connections == 2
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_a_refused_connection_is_an_os_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):
        await RespClient(port=port, timeout=0.5).call("PING")

"""A lean Redis connection for the counters' hot round trip (plain redis:// and unix://).

Why: the Coalescer sends one command per round trip and never has two in flight
(one flusher at a time), yet redis.asyncio spends ~500 Python calls on each
(pool checkout with a timeout, several wait_for tasks, observability hooks). This
client is one asyncio.Protocol on one connection: commands packed by hiredis,
replies parsed by hiredis.Reader, each reply matched to the oldest waiting call.
Everything else (TLS, Sentinel, Cluster, scripts loading, admin commands) stays on
redis-py.

Invariants: replies arrive in the order of the commands, so `waiting` is a FIFO
of futures; a call that times out closes its connection (a late reply would be
taken for the next call's), and every call still waiting on a closed connection
fails with ConnectionError. The next call connects again (AUTH and SELECT first
when the URL asks for them): reconnection is automatic.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis


class ReplyError(Exception):
    """An error reply from Redis (`NOSCRIPT ...`, `WRONGTYPE ...`)."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if not self.waiting:  # a reply nobody asked for: the stream cannot be trusted
                self.close()
                return
            fut = self.waiting.popleft()
            if fut.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                fut.set_exception(ReplyError(str(reply)))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError("Redis connection closed"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class RespClient:
    """`await call(*args)` sends one command and returns its reply."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 6379, path: str | None = None,
                 username: str | None = None, password: str | None = None, db: int = 0,
                 timeout: float = 0.25) -> None:
        self.host, self.port, self.path = host, port, path
        self.username, self.password, self.db = username, password, db
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Lock | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float = 0.25) -> RespClient | None:
        """A client for `redis://[user:password@]host[:port][/db]` or
        `unix:///path[?db=N]`; None for every other URL (TLS, Sentinel...)."""
        parts = urlsplit(url)
        password = unquote(parts.password) if parts.password else None
        username = unquote(parts.username) if parts.username else None
        query = parse_qs(parts.query)
        if parts.scheme == "redis":
            db_text = parts.path.strip("/") or query.get("db", ["0"])[0]
            return cls(host=parts.hostname or "127.0.0.1", port=parts.port or 6379,
                       username=username, password=password, db=int(db_text), timeout=timeout)
        if parts.scheme == "unix":
            return cls(path=parts.path, username=username, password=password,
                       db=int(query.get("db", ["0"])[0]), timeout=timeout)
        return None

    async def call(self, *args: Any) -> Any:
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connect()
        return await self._send(conn, args)

    async def _send(self, conn: _Connection, args: tuple[Any, ...]) -> Any:
        assert conn.transport is not None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        conn.waiting.append(fut)
        conn.transport.write(hiredis.pack_command(args))
        timer = loop.call_later(self.timeout, _expire, fut, conn)
        try:
            return await fut
        finally:
            timer.cancel()

    async def _connect(self) -> _Connection:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # one connection, however many callers arrive
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            loop = asyncio.get_running_loop()
            if self.path is not None:
                made = loop.create_unix_connection(_Connection, self.path)
            else:
                made = loop.create_connection(_Connection, self.host, self.port)
            _, fresh = await asyncio.wait_for(made, self.timeout)
            try:
                if self.password is not None:
                    auth = ((self.username, self.password) if self.username
                            else (self.password,))
                    await self._send(fresh, ("AUTH", *auth))
                if self.db:
                    await self._send(fresh, ("SELECT", self.db))
            except BaseException:
                fresh.close()
                raise
            self._conn = fresh
            return fresh

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _expire(fut: asyncio.Future[Any], conn: _Connection) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("Redis did not answer in time"))
        conn.close()  # its reply may still come: it must not answer the next call

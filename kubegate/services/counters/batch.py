"""Coalesce concurrent requests from one process into one round trip.

``submit`` queues a request and returns its result.  One flusher task runs at
a time: it takes everything queued (up to ``max_batch``), performs a single
round trip, resolves the futures, and loops while more requests arrived during
that round trip.  So at low load every request goes alone (no added latency)
and under load a round trip carries all requests that queued behind the
previous one.  A round trip that fails or exceeds ``timeout`` fails every
request in it with ``CounterUnavailable``; a request therefore waits at most
about two timeouts (the round trip in flight, then its own).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from .base import CounterUnavailable

Req = TypeVar("Req")

Flush = Callable[[list[Req]], Awaitable[list[Any]]]


class Coalescer(Generic[Req]):
    def __init__(self, flush: Flush[Req], *, timeout: float, max_batch: int = 512) -> None:
        self._flush = flush
        self._timeout = timeout
        self._max_batch = max_batch
        self._pending: list[tuple[Req, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # get_running_loop() costs a getpid()
        self.round_trips = 0
        self.requests = 0

    async def submit(self, req: Req) -> Any:
        return await self.enqueue(req)

    def enqueue(self, req: Req) -> asyncio.Future[Any]:
        """Queue `req` (from the event loop's thread) and return the future of its
        result. It always completes: with the result, or CounterUnavailable."""
        loop = self._loop
        if loop is None or loop.is_closed():  # bound to the first loop that uses it
            loop = self._loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((req, fut))
        self.requests += 1
        if self._task is None:
            self._task = loop.create_task(self._run())
        return fut

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._one(batch)
        finally:
            self._task = None

    async def _one(self, batch: list[tuple[Req, asyncio.Future[Any]]]) -> None:
        self.round_trips += 1
        try:
            async with asyncio.timeout(self._timeout):  # no Task of its own, unlike wait_for
                results = await self._flush([r for r, _ in batch])
        except asyncio.CancelledError:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(CounterUnavailable("counter round trip cancelled"))
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes "unavailable"
            err = exc if isinstance(exc, CounterUnavailable) else CounterUnavailable(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        for (_, fut), res in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

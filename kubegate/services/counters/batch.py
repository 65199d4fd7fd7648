"""Coalesce concurrent requests from one process into one round trip.

``submit`` queues a request and returns its result.  One flusher task runs at
a time: it takes everything queued (up to ``max_batch``), performs a single
round trip, resolves the futures, and loops while more requests arrived during
that round trip.  So at low load every request goes alone (no added latency)
and under load a round trip carries all requests that queued behind the
previous one.  A round trip that fails or exceeds ``timeout`` fails every
request in it with ``CounterUnavailable``; a request therefore waits at most
about two timeouts (the round trip in flight, then its own).

A request's answer goes to an ``asyncio.Future`` (awaitable), or to a ``Verdict``
the caller passes: a slot whose one callback runs at once when the round trip
answers, for the data plane's head checks (see ``Verdict``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, Union

from .base import CounterUnavailable

Req = TypeVar("Req")

Flush = Callable[[list[Req]], Awaitable[list[Any]]]
log = logging.getLogger("kubegate.counters")


class Verdict:
    """A future-like slot for one answer whose callback runs at once, inside
    `set_result`/`set_exception`, where an asyncio.Future would schedule it on the
    event loop: for a per-request answer read by a plain callback (a held request's
    rate-limit verdict), the Future, its scheduling and its Handle cost more than
    the rest of the verdict. It is not awaitable.

    Invariants: answered at most once (a later answer is ignored); it holds one
    callback at a time (a second added while the first waits is an error); each
    callback runs exactly once, after the answer, whether added before or after it;
    an exception it raises is logged, never propagated into the code that answered."""

    __slots__ = ("_done", "_result", "_error", "_callback")

    def __init__(self) -> None:
        self._done = False
        self._result: Any = None
        self._error: BaseException | None = None
        self._callback: Callable[[Verdict], object] | None = None

    def done(self) -> bool:
        return self._done

    def result(self) -> Any:
        if not self._done:
            raise asyncio.InvalidStateError("no answer yet")
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self) -> BaseException | None:
        if not self._done:
            raise asyncio.InvalidStateError("no answer yet")
        return self._error

    def set_result(self, value: Any) -> None:
        if not self._done:
            self._done = True
            self._result = value
            self._run()

    def set_exception(self, error: BaseException) -> None:
        if not self._done:
            self._done = True
            self._error = error
            self._run()

    def add_done_callback(self, callback: Callable[[Verdict], object]) -> None:
        if self._callback is not None:
            raise RuntimeError("a Verdict holds one callback at a time")
        self._callback = callback
        if self._done:
            self._run()

    def _run(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            try:
                callback(self)
            except Exception:  # noqa: BLE001 - the answering round trip must go on
                log.exception("a counter answer's callback failed")


Waiter = Union["asyncio.Future[Any]", Verdict]


class Coalescer(Generic[Req]):
    def __init__(self, flush: Flush[Req], *, timeout: float, max_batch: int = 512) -> None:
        self._flush = flush
        self._timeout = timeout
        self._max_batch = max_batch
        self._pending: list[tuple[Req, Waiter]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # get_running_loop() costs a getpid()
        self._expired = False  # the round trip in flight ran out of time
        self.round_trips = 0
        self.requests = 0

    async def submit(self, req: Req) -> Any:
        return await self.enqueue(req)

    def enqueue(self, req: Req) -> asyncio.Future[Any]:
        """Queue `req` (from the event loop's thread) and return the future of its
        result. It always completes: with the result, or CounterUnavailable."""
        fut: asyncio.Future[Any] = self._running_loop().create_future()
        self._queue(req, fut)
        return fut

    def enqueue_to(self, req: Req, verdict: Verdict) -> Verdict:
        """`enqueue`, the answer going to `verdict` (returned), not a new Future."""
        self._queue(req, verdict)
        return verdict

    def _queue(self, req: Req, waiter: Waiter) -> None:
        self._pending.append((req, waiter))
        self.requests += 1
        if self._task is None:
            self._task = self._running_loop().create_task(self._run())

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or loop.is_closed():  # bound to the first loop that uses it
            loop = self._loop = asyncio.get_running_loop()
        return loop

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._one(batch)
        finally:
            self._task = None

    async def _one(self, batch: list[tuple[Req, Waiter]]) -> None:
        self.round_trips += 1
        task, loop = self._task, self._loop
        assert task is not None and loop is not None  # _run is the task running this
        # The timeout as asyncio.timeout does it (cancel the task, tell that cancel
        # from any other), without its Python-level context manager per round trip.
        self._expired = False
        timer = loop.call_later(self._timeout, self._expire, task)
        try:
            results = await self._flush([r for r, _ in batch])
        except asyncio.CancelledError:
            if not self._expired:  # close(), or the loop shutting down
                _fail(batch, CounterUnavailable("counter round trip cancelled"))
                raise
            task.uncancel()
            _fail(batch, CounterUnavailable("TimeoutError"))
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes "unavailable"
            _fail(batch, exc if isinstance(exc, CounterUnavailable) else CounterUnavailable(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__))
            return
        finally:
            timer.cancel()
        for (_, fut), res in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)

    def _expire(self, task: asyncio.Task[None]) -> None:
        self._expired = True
        task.cancel()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _fail(batch: list[tuple[Any, Waiter]], error: BaseException) -> None:
    for _, waiter in batch:
        if not waiter.done():
            waiter.set_exception(error)

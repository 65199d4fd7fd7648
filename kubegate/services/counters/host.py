"""Host counter server: exact counters shared by the ``--workers`` of one host.

The supervisor calls ``start_host_counter_server(path)``: a daemon thread runs
an asyncio loop serving a Unix domain socket and owns the only ``CounterCore``
of the host.  Workers use ``HostCounterClient(path)``; each keeps one
connection and sends the requests that queue up while a round trip is in
flight as one frame (``Coalescer``).

Wire format, both directions: 4-byte big-endian length + JSON array.  A request
frame is a list of ops; the reply is the list of their results, same order.
  ["r", key, limit, period, cost, now|null]           -> [allowed, remaining, retry, total]
  ["q", key, calls, kb, period, anchor, count, now]   -> [allowed, rem_calls, rem_kb, retry, exceeded]
  ["b", key, nbytes, period, anchor, now]             -> null
  a bad op                                            -> {"error": message}
Invariant: only the server thread's loop touches the core, and it handles one
frame at a time without awaiting, so every decision is atomic host-wide.
``now=null`` uses the server's clock (one host, one clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import threading
import time
from typing import Any

from .base import (
    DEFAULT_FAIL_MODE,
    FailMode,
    FailureStats,
    QuotaDecision,
    RateDecision,
    check_quota_args,
    check_rate_args,
    closed_quota,
    closed_rate,
    guarded,
    open_quota,
    open_rate,
    soon_decision,
)
from .batch import Coalescer, Verdict
from .core import CounterCore

_LEN = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _LEN.unpack(await reader.readexactly(4))
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return json.loads(await reader.readexactly(size))


def _frame(obj: Any) -> bytes:
    data = json.dumps(obj, separators=(",", ":")).encode()
    return _LEN.pack(len(data)) + data


def apply_op(core: CounterCore, op: list[Any]) -> Any:
    try:
        kind = op[0]
        if kind == "r":
            _, key, limit, period, cost, now = op
            d = core.hit_rate(key, limit, period, cost, time.time() if now is None else now)
            return [d.allowed, d.remaining, d.retry_after_s, d.total]
        if kind == "q":
            _, key, calls, kb, period, anchor, count, now = op
            q = core.hit_quota(key, calls, kb, period, anchor, count, time.time() if now is None else now)
            return [q.allowed, q.remaining_calls, q.remaining_kb, q.retry_after_s, q.exceeded]
        if kind == "b":
            _, key, nbytes, period, anchor, now = op
            core.add_bandwidth(key, nbytes, period, anchor, time.time() if now is None else now)
            return None
        raise ValueError(f"unknown op {kind!r}")
    except (ValueError, TypeError, IndexError) as exc:
        return {"error": str(exc)}


class HostCounterService:
    """The socket server and its open connections, in the loop that serves them."""

    def __init__(self, core: CounterCore) -> None:
        self.core = core
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                ops = await _read_frame(reader)
                writer.write(_frame([apply_op(self.core, op) for op in ops]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()


async def serve_host_counters(path: str, core: CounterCore | None = None) -> HostCounterService:
    """Serve ``core`` on the Unix socket ``path`` in the running loop."""
    service = HostCounterService(core if core is not None else CounterCore())
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    service.server = await asyncio.start_unix_server(service.handle, path)
    os.chmod(path, 0o600)
    return service


class HostCounterServer:
    """Handle returned by ``start_host_counter_server``: ``close()`` stops it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.core = CounterCore()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="kubegate-counters", daemon=True)
        self._listen_fds: list[int] = []
        self._closed = False
        os.register_at_fork(after_in_child=self._close_in_child)

    def _close_in_child(self) -> None:
        """A forked worker must not keep the supervisor's listening socket open."""
        if not self._closed:
            self._closed = True
            for fd in self._listen_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            service = self._loop.run_until_complete(serve_host_counters(self.path, self.core))
        except BaseException as exc:  # noqa: BLE001 - reported to the starter
            self._error = exc
            self._ready.set()
            return
        assert service.server is not None
        self._listen_fds = [sock.fileno() for sock in service.server.sockets]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(service.aclose())
            self._loop.close()

    def close(self) -> None:
        self._closed = True
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def start_host_counter_server(path: str) -> HostCounterServer:
    """Start the host's counter server in a daemon thread; call before forking workers."""
    handle = HostCounterServer(path)
    handle._thread.start()
    handle._ready.wait(timeout=10)
    if handle._error is not None:
        raise handle._error
    return handle


class HostCounterClient:
    """``CounterStore`` for a worker process; talks to the supervisor's server."""

    def __init__(self, path: str, *, timeout: float = 0.25, max_batch: int = 512) -> None:
        self.path = path
        self.stats = FailureStats()
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.batcher: Coalescer[list[Any]] = Coalescer(self._round_trip, timeout=timeout,
                                                       max_batch=max_batch)

    async def _round_trip(self, ops: list[list[Any]]) -> list[Any]:
        if self._conn is None:
            self._conn = await asyncio.open_unix_connection(self.path)
        reader, writer = self._conn
        try:
            writer.write(_frame(ops))
            await writer.drain()
            results: list[Any] = await _read_frame(reader)
        except BaseException:
            self._conn = None  # reconnect on the next round trip
            writer.close()
            raise
        return [ValueError(r["error"]) if isinstance(r, dict) else r for r in results]

    async def hit_rate(
        self, key: str, limit: int, period_s: int, cost: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> RateDecision:
        check_rate_args(limit, period_s, cost)

        async def call() -> RateDecision:
            a, rem, retry, total = await self.batcher.submit(["r", key, limit, period_s, cost, now])
            return RateDecision(a, rem, retry, total)
        return await guarded(call, fail_mode, self.stats, "rate-limit",
                             lambda: open_rate(limit), lambda m: closed_rate(limit, m))

    def hit_rate_soon(self, key: str, limit: int, period_s: int, cost: int = 1, *,
                      now: float | None = None, to: Verdict | None = None) -> Any:
        """`hit_rate` without awaiting: the future of the raw answer (it always
        completes, within about two timeouts), or `to` answered; `rate_decision`
        reads it once done."""
        check_rate_args(limit, period_s, cost)
        req = ["r", key, limit, period_s, cost, now]
        return self.batcher.enqueue(req) if to is None else self.batcher.enqueue_to(req, to)

    def rate_decision(self, done: asyncio.Future[Any], limit: int,
                      fail_mode: FailMode = DEFAULT_FAIL_MODE) -> RateDecision:
        """The decision of a finished `hit_rate_soon` future, as `hit_rate` returns it."""
        return soon_decision(done, limit, fail_mode, self.stats, lambda a: RateDecision(*a))

    @staticmethod
    def rate_admitted(done: asyncio.Future[Any]) -> bool:
        """Whether a finished `hit_rate_soon` future admitted its hit (False: ask
        `rate_decision`)."""
        return done.exception() is None and done.result()[0] is True

    async def hit_quota(
        self, key: str, calls: int | None, bandwidth_kb: int | None, period_s: int,
        anchor: float = 0.0, count_calls: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> QuotaDecision:
        check_quota_args(calls, bandwidth_kb, period_s)

        async def call() -> QuotaDecision:
            op = ["q", key, calls, bandwidth_kb, period_s, anchor, count_calls, now]
            a, rc, rkb, retry, exceeded = await self.batcher.submit(op)
            return QuotaDecision(a, rc, rkb, retry, exceeded)
        return await guarded(call, fail_mode, self.stats, "quota",
                             lambda: open_quota(calls, bandwidth_kb), closed_quota)

    async def add_bandwidth(
        self, key: str, nbytes: int, period_s: int, anchor: float = 0.0, *,
        now: float | None = None,
    ) -> None:
        async def call() -> None:
            await self.batcher.submit(["b", key, nbytes, period_s, anchor, now])
        await guarded(call, DEFAULT_FAIL_MODE, self.stats, "bandwidth", lambda: None, lambda m: None)

    async def close(self) -> None:
        await self.batcher.close()
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

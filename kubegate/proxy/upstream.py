"""Connections to backends and their keep-alive pools.

How this works: an UpstreamConnection parses responses with httptools and relays
parser events to its `owner`, the exchange currently using it. A connection is
either owned by exactly one exchange or idle in its Pool, never both. A pool hands
out its most recently used idle connection synchronously when one exists (the
fast path) and opens a new one otherwise; it keeps at most `max_idle` idle
connections, closing the rest on release. A connection that closes while idle
leaves its pool; one that closes while owned tells its owner.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import httptools

from kubegate.compile.backends import Backend

MAX_RESPONSE_HEAD: Final = 64 * 1024  # bytes of status line and headers a backend may send


log = logging.getLogger("kubegate.proxy")


def connect_failure(exc: OSError) -> tuple[int, str]:
    """The status and message for a backend connection that could not be made. The
    message goes to the client, so it names the kind of failure, never the address
    (asyncio's "Connect call failed ('10.1.2.3', 8080)"): that is logged instead."""
    if isinstance(exc, TimeoutError):
        return 504, "Backend connection timed out"
    log.info("backend connection failed: %s", exc)
    # errno: the system's wording; none: one of our own messages (egress.py), already safe
    reason = os.strerror(exc.errno) if exc.errno else (str(exc) or type(exc).__name__)
    return 502, f"Backend unavailable: {reason}"


class Clock(Protocol):
    """A coarse clock: `now` is refreshed by its owner (the server's sweep), read for free."""

    now: float


class FixedClock:
    def __init__(self) -> None:
        self.now = time.monotonic()


class OwnerConnection(Protocol):
    """The client side an owner answers to: told to stop reading when the backend's
    connection pushes back, and read by the sweep."""

    @property
    def write_paused(self) -> bool: ...
    def pause_client_reading(self) -> None: ...
    def resume_client_reading(self) -> None: ...


class Owner(Protocol):
    """What an upstream connection reports its response to: the Exchange using it,
    or forward.py's Collector (a response buffered for the policies)."""

    @property
    def tunnelled(self) -> bool: ...
    @property
    def conn(self) -> OwnerConnection: ...
    def client_write(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def upstream_head(self, status: int, head: bytes, keep_alive: bool) -> None: ...
    def upstream_body(self, chunk: bytes) -> None: ...
    def upstream_complete(self, keep_alive: bool) -> None: ...
    def upstream_upgraded(self, rest: bytes) -> None: ...
    def upstream_failed(self, message: str) -> None: ...
    def upstream_lost(self, exc: Exception | None) -> None: ...
    def upstream_timeout(self) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    __slots__ = ("pool", "transport", "parser", "owner", "closed", "uses", "deadline", "raw",
                 "in_head", "paused")

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.owner: Owner | None = None
        self.closed = False
        self.uses = 0
        self.deadline = 0.0
        self.raw = b""  # bytes of the response head not yet complete (see data_received)
        self.in_head = True
        self.paused = False  # reading paused for a slow client: undone before reuse

    # -- asyncio.Protocol -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is None:  # a backend talking out of turn: never reuse it
            self.close()
            return
        if owner.tunnelled:
            owner.client_write(data)
            return
        self.deadline = self.pool.clock.now + self.pool.response_timeout  # silence, not duration
        if self.in_head:
            # The head is taken raw, not header by header: per-header parser callbacks
            # cost more than the rest of the response path together.
            self.raw = self.raw + data if self.raw else data
            if len(self.raw) > MAX_RESPONSE_HEAD and self.raw.find(b"\r\n\r\n") < 0:
                self.close()
                owner.upstream_failed("backend response head too large")
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            owner.upstream_upgraded(data[exc.args[0]:] if exc.args else b"")
        except httptools.HttpParserError as exc:
            self.close()
            owner.upstream_failed(f"invalid response from backend: {exc}")
        owner.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.upstream_lost(exc)

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.conn.pause_client_reading()

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.conn.resume_client_reading()

    # -- httptools callbacks ------------------------------------------------------
    def on_headers_complete(self) -> None:
        p = self.parser
        raw = self.raw
        end = raw.find(b"\r\n\r\n")
        status = p.get_status_code()
        head = raw[: end + 4] if end >= 0 else b""
        if status >= 200 or status == 101:
            self.in_head = False
            self.raw = b""
        else:  # an informational head: the final one follows in the same bytes
            self.raw = raw[end + 4 :] if end >= 0 else b""
        if self.owner is not None:
            if end < 0:  # llhttp accepted a head we cannot cut: refuse to guess
                self.owner.upstream_failed("invalid response head from backend")
                return
            self.owner.upstream_head(status, head, p.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        if self.owner is not None:
            self.owner.upstream_body(body)

    def on_message_complete(self) -> None:
        self.in_head = True  # the next bytes start the next response's head
        if self.owner is not None:
            self.owner.upstream_complete(self.parser.should_keep_alive())

    # -- use --------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)


    def reset_parser(self) -> None:
        """After a response whose body the parser could not know was absent (HEAD)."""
        self.parser = httptools.HttpResponseParser(self)
        self.in_head = True
        self.raw = b""

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()


class Pool:
    """Keep-alive connections to one backend origin (scheme, host, port)."""

    def __init__(self, backend: Backend, max_idle: int, connect_timeout: float,
                 response_timeout: float = 60.0, clock: Clock | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.backend = backend
        self.response_timeout = response_timeout
        self.clock: Clock = clock or FixedClock()
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.idle: list[UpstreamConnection] = []
        self.busy = 0
        self.opened = 0
        self._ssl: ssl.SSLContext | None = (
            (ssl_context or ssl.create_default_context()) if backend.scheme == "https" else None
        )  # ssl_context: a client certificate's (authentication-certificate)

    def take_idle(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self.busy += 1
                conn.uses += 1
                return conn
        return None

    async def connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        b = self.backend
        kwargs: dict[str, Any] = {}
        if self._ssl is not None:
            kwargs = {"ssl": self._ssl, "server_hostname": b.host}
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: UpstreamConnection(self), b.host, b.port, **kwargs),
            self.connect_timeout,
        )
        self.opened += 1
        self.busy += 1
        conn.uses = 1
        return conn

    def release(self, conn: UpstreamConnection, reusable: bool, now: float) -> None:
        self.busy -= 1
        conn.owner = None
        if reusable and not conn.closed and len(self.idle) < self.max_idle:
            if conn.paused:  # paused for the last client, whose response is all read
                conn.resume_reading()
            conn.deadline = now
            self.idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: UpstreamConnection) -> None:
        if conn.owner is None and conn in self.idle:
            self.idle.remove(conn)

    def close_idle_before(self, cutoff: float) -> None:
        keep = []
        for conn in self.idle:
            if conn.deadline < cutoff:
                conn.close()
            else:
                keep.append(conn)
        self.idle[:] = keep

    def close_all(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()

    def stats(self) -> dict[str, int]:
        return {"idle": len(self.idle), "busy": self.busy, "opened": self.opened}


class ConnectionSource(Protocol):
    """Where an exchange gets its upstream connection: a Pool, or a BalancedPool."""

    def take_idle(self) -> UpstreamConnection | None: ...
    async def connect(self) -> UpstreamConnection: ...


class Endpoints(Protocol):
    """What the Kubernetes integration provides: a Service's current addresses."""

    version: int

    def resolve(self, ref: str) -> list[tuple[str, int]]: ...


class BalancedPool:
    """A Service backend (k8s:// or nodeport://): one keep-alive Pool per address.

    How this works: every new request picks the next address round-robin among the
    Service's ready endpoints (re-read when the endpoint table's version changes);
    addresses that refused a connection sit out for a while. Connections to an
    address that left (a terminating pod) are never handed out again, so it drains.
    Without the Kubernetes integration, a numeric port goes to the Service's DNS name.
    """

    def __init__(self, backend: Backend, pools: Pools) -> None:
        from kubegate.sources.kubernetes.balancer import Balancer

        self.backend = backend
        self.pools = pools
        self.balancer = Balancer([])
        self.version = -1
        self._next: tuple[tuple[str, int], Pool] | None = None  # take_idle's pick, for connect

    def _pick(self) -> tuple[tuple[str, int], Pool] | None:
        table = self.pools.endpoints
        assert self.backend.ref is not None
        if table is None:
            if self.version == -1:
                b = self.backend
                self.balancer.update([(b.host, b.port)] if b.port else [])
                self.version = 0
        elif table.version != self.version:
            self.version = table.version
            self.balancer.update(table.resolve(self.backend.ref))
        try:
            addr = self.balancer.pick()
        except LookupError:
            return None
        self.balancer.release(addr)  # round-robin: no in-flight accounting needed
        return addr, self.pools.get(self.backend.at(*addr))

    def take_idle(self) -> UpstreamConnection | None:
        picked = self._pick()
        conn = picked[1].take_idle() if picked is not None else None
        self._next = picked if conn is None else None
        return conn

    async def connect(self) -> UpstreamConnection:
        for attempt in range(2):
            picked, self._next = (self._next or self._pick()) if attempt == 0 else self._pick(), None
            if picked is None:
                raise ConnectionRefusedError(111, f"no ready endpoints for {self.backend.ref}")
            addr, pool = picked
            try:
                return await pool.connect()
            except OSError:
                self.balancer.mark_failed(addr)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def release(self, conn: UpstreamConnection, reusable: bool, now: float) -> None:
        conn.pool.release(conn, reusable, now)

    def stats(self) -> dict[str, int]:
        return {"addresses": len(self.balancer.addresses)}


class Pools:
    """One Pool per backend origin, shared by every snapshot of a worker."""

    def __init__(self, max_idle: int, connect_timeout: float, response_timeout: float = 60.0,
                 clock: Clock | None = None) -> None:
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.clock: Clock = clock or FixedClock()
        self.endpoints: Endpoints | None = None  # set when the gateway watches Kubernetes
        self._pools: dict[tuple[Any, ...], Pool] = {}  # key: backend.key (+ variant, see below)
        self._balanced: dict[tuple[str, str, int], BalancedPool] = {}

    def get(self, backend: Backend) -> Any:
        """The Pool for an address, or the BalancedPool for a Service backend."""
        if backend.ref is not None:
            balanced = self._balanced.get(backend.key)
            if balanced is None:
                balanced = self._balanced[backend.key] = BalancedPool(backend, self)
            return balanced
        pool = self._pools.get(backend.key)
        if pool is None:
            pool = self._pools[backend.key] = Pool(backend, self.max_idle, self.connect_timeout,
                                                   self.response_timeout, self.clock)
        return pool

    MAX_VARIANTS = 256  # variant pools kept; the least recently used beyond are dropped

    def variant(self, backend: Backend, extra: tuple[str, ...], make: Callable[[], Pool]) -> Pool:
        """The pool for `backend` reached another way (egress.py: a client certificate,
        an HTTP proxy tunnel); `extra` names the way, `make` builds the pool once.

        Certificates and proxy credentials may be computed per request, so at most
        MAX_VARIANTS such pools are kept (their keys are the `_pools` keys longer than a
        backend key, in least recently used order): the oldest is dropped with its idle
        connections, and its busy ones close when released (max_idle 0)."""
        key = (*backend.key, *extra)
        pools = self._pools
        pool = pools.pop(key, None)  # re-inserted below: the dict's order is the use order
        if pool is None:
            pool = make()
            variants = [k for k in pools if len(k) > 3]
            for old in variants[:max(0, len(variants) + 1 - self.MAX_VARIANTS)]:
                retired = pools.pop(old)
                retired.max_idle = 0
                retired.close_all()
        pools[key] = pool
        return pool

    def sweep(self, cutoff: float) -> None:
        for pool in self._pools.values():
            pool.close_idle_before(cutoff)

    def close_all(self) -> None:
        for pool in self._pools.values():
            pool.close_all()

    def stats(self) -> dict[str, dict[str, int]]:
        return {f"{k[0]}://{k[1]}:{k[2]}" + (f" ({k[3]} {k[-1]})" if len(k) > 3 else ""):
                p.stats() for k, p in self._pools.items()}

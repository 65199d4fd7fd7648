"""One request/response exchange between a client connection and a backend.

How this works: the client connection creates an Exchange when a request head has
been parsed and routed, and queues it; only the exchange at the head of the queue
talks to a backend and writes to the client, so pipelined responses leave in
order. Request body chunks are written to the upstream connection as they arrive
(re-framed: Content-Length bodies as-is, chunked bodies re-chunked) or buffered
until it is attached. Response output produced while handling one received chunk
is collected in `out` and written with one `transport.write` in `flush()`.

Invariants: an exchange owns at most one upstream connection; the upstream goes
back to its pool only when both the request and the response were complete and
the backend allowed keep-alive; once response bytes reached the client, a failure
aborts the client connection instead of writing an error response.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import TYPE_CHECKING, Final, Protocol

from kubegate.proxy.errors import REASONS, json_error, reason
from kubegate.proxy.headers import response_header_block
from kubegate.proxy.upstream import ConnectionSource, UpstreamConnection, connect_failure

if TYPE_CHECKING:
    from kubegate.compile.snapshot import RouteTarget
    from kubegate.observability.otel import RequestSpan
    from kubegate.proxy.client import ClientConnection

BODY_BUFFER_LIMIT: Final = 256 * 1024
CRLF: Final = b"\r\n"
NO_BODY_STATUSES: Final = frozenset({204, 304})
STATUS_LINES: Final = {code: b"HTTP/1.1 %d %s\r\n" % (code, phrase) for code, phrase in REASONS.items()}


class Queued(Protocol):
    """What a client connection drives: an Exchange, or a PolicyExchange
    (policy_exchange.py) while its policies decide."""

    @property
    def local(self) -> bytes | None: ...
    @property
    def upgrade(self) -> bool: ...
    @property
    def upstream(self) -> UpstreamConnection | None: ...
    req_done: bool
    finished: bool
    keep_alive: bool

    def start(self) -> None: ...
    def over_body_limit(self, n: int) -> bool: ...
    def request_body(self, chunk: bytes) -> None: ...
    def request_complete(self) -> None: ...
    def reject_body(self, status: int, message: str) -> None: ...
    def abandon(self) -> None: ...


class Exchange:
    # Class-level defaults: a new exchange sets only what differs per request.
    req_done = False
    buffered = 0
    upstream: UpstreamConnection | None = None
    connecting: asyncio.Task[None] | None = None
    resp_started = False
    resp_mode = 0  # 0 raw/none, 1 chunked, 2 close-delimited
    resp_done = False
    up_keep = False
    informational = False
    up_eof = False  # the backend's body ends when it closes the connection
    tunnelled = False
    finished = False
    retried = False
    body_sent = False
    status = 0
    backend_s = 0.0
    t_up = 0.0
    bytes_in = 0
    bytes_out = 0
    target: RouteTarget | None = None
    rid: bytes | None = None  # the request id, when the gateway adds one
    span: RequestSpan | None = None  # with tracing on: this request's span, ended by record
    subscription: str | None = None  # the subscription id a key check admitted (policy path)

    def __init__(
        self,
        conn: ClientConnection,
        pool: ConnectionSource | None,
        head: bytes,
        chunked: bool = False,
        head_request: bool = False,
        keep_alive: bool = True,
        upgrade: bool = False,
        client_http10: bool = False,
        local: bytes | None = None,
        body_limit: float = float("inf"),
    ) -> None:
        self.conn = conn
        self.pool = pool
        self.head = head
        self.chunked = chunked
        self.head_request = head_request
        self.keep_alive = keep_alive and not upgrade
        self.upgrade = upgrade
        self.client_http10 = client_http10
        self.local = local  # a response the gateway writes itself, instead of proxying
        self.buffer: list[bytes] = []
        self.out: list[bytes] = []
        self.body_left = body_limit  # bytes the client may still send
        self.t0 = perf_counter()

    # -- starting ---------------------------------------------------------------
    def start(self) -> None:
        self.t_up = perf_counter()
        if self.local is not None:
            self.resp_started = True
            self.out.append(self.local)
            self.resp_done = True
            self.flush()
            return
        assert self.pool is not None
        up = self.pool.take_idle()
        if up is not None:
            self._attach(up)
        else:
            self.connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        assert self.pool is not None
        try:
            up = await self.pool.connect()
        except asyncio.CancelledError:
            raise
        except OSError as exc:  # TimeoutError included
            self.connecting = None
            self.fail(*connect_failure(exc))
            return
        self.connecting = None
        if self.finished:  # the client went away meanwhile
            up.pool.release(up, True, self.conn.server.now)
            return
        self._attach(up)

    def _attach(self, up: UpstreamConnection) -> None:
        self.upstream = up
        up.owner = self
        up.deadline = self.conn.server.now + self.conn.server.response_timeout
        self.conn.server.active.add(up)
        if self.buffer:
            up.write(self.head + b"".join(self.buffer))
            self.buffer.clear()
            self.buffered = 0
            self.conn.resume_reading(2)
        else:
            up.write(self.head)
        if self.conn.write_paused:
            up.pause_reading()

    # -- request body (client -> upstream) ----------------------------------------
    def over_body_limit(self, n: int) -> bool:
        self.body_left -= n
        return self.body_left < 0

    def reject_body(self, status: int, message: str) -> None:
        self._drop_upstream()
        self.req_done = False
        self.fail(status, message)

    def request_body(self, chunk: bytes) -> None:
        if self.finished:
            return  # the response is out already: the rest of the body is discarded
        data = b"%x\r\n%b\r\n" % (len(chunk), chunk) if self.chunked else chunk
        self.body_sent = True
        self.bytes_in += len(chunk)
        up = self.upstream
        if up is not None:
            up.write(data)
            up.deadline = self.conn.server.now + self.conn.server.response_timeout
        else:
            self.buffer.append(data)
            self.buffered += len(data)
            if self.buffered > BODY_BUFFER_LIMIT:
                self.conn.pause_reading(2)

    def request_complete(self) -> None:
        self.req_done = True
        if self.chunked:
            if self.upstream is not None:
                self.upstream.write(b"0\r\n\r\n")
            else:
                self.buffer.append(b"0\r\n\r\n")

    # -- response (upstream -> client) ----------------------------------------------
    def upstream_head(self, status: int, head: bytes, keep_alive: bool) -> None:
        if status < 200 and status != 101:
            self.informational = True  # 100 Continue & co: the gateway answered those itself
            return
        self.informational = False
        self.status = status
        self.backend_s = perf_counter() - self.t_up
        conn = self.conn
        block, has_length, up_chunked = response_header_block(head)
        parts = [STATUS_LINES.get(status) or b"HTTP/1.1 %d %s\r\n" % (status, reason(status)),
                 block]
        if self.rid is not None:
            parts.append(conn.server.rid_line + self.rid + CRLF)
        if status == 101 and self.upgrade:
            parts.append(b"connection: upgrade\r\nupgrade: " + conn.upgrade_value + CRLF + CRLF)
            self.out.append(b"".join(parts))
            self.resp_started = True
            self.tunnelled = True  # from now on bytes pass through untouched
            return
        if not has_length and not (self.head_request or status in NO_BODY_STATUSES):
            self.up_eof = not up_chunked
            if self.client_http10:
                self.resp_mode = 2
                self.keep_alive = False
            else:
                self.resp_mode = 1
                parts.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive or conn.closing:
            self.keep_alive = False
            parts.append(b"connection: close\r\n")
        parts.append(CRLF)
        self.out += parts  # joined with the body by flush
        self.resp_started = True
        self.up_keep = keep_alive
        if self.head_request and self.upstream is not None:
            # httptools cannot be told the response has no body: finish here and
            # give the connection a fresh parser.
            self.upstream.reset_parser()
            self.resp_done = True

    def upstream_body(self, chunk: bytes) -> None:
        if self.informational or self.resp_done:
            return
        if self.resp_mode == 1:
            self.out.append(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            self.out.append(chunk)

    def upstream_complete(self, keep_alive: bool) -> None:
        if self.tunnelled:
            return
        if self.informational:
            self.informational = False
            return
        if self.resp_done:
            return
        if self.resp_mode == 1:
            self.out.append(b"0\r\n\r\n")
        self.up_keep = keep_alive
        self.resp_done = True

    def upstream_upgraded(self, rest: bytes) -> None:
        if not self.tunnelled:
            self.upstream_failed("backend switched protocols unasked")
            return
        self.conn.start_tunnel(self)
        if rest:
            self.out.append(rest)

    def client_write(self, data: bytes) -> None:
        self.conn.write(data)

    def flush(self) -> None:
        if self.out:
            data = b"".join(self.out)
            self.bytes_out += len(data)
            self.conn.write(data)
            self.out.clear()
        if self.resp_done and not self.finished:
            self._finish()

    def _finish(self) -> None:
        self.finished = True
        server = self.conn.server
        if server.access_log is None and self.span is None:
            server.observe(self.target, self.status, self.subscription, self.t0, self.backend_s)
        else:
            server.record(self)
        up, self.upstream = self.upstream, None
        if up is not None:
            self.conn.server.active.discard(up)
            up.pool.release(up, self.up_keep and self.req_done, self.conn.server.now)
        self.conn.exchange_finished(self)

    # -- failures -------------------------------------------------------------------
    def upstream_lost(self, exc: Exception | None) -> None:
        up, self.upstream = self.upstream, None
        if up is not None:
            self.conn.server.active.discard(up)
            up.pool.busy -= 1
        if self.finished or self.resp_done:
            return
        if self.tunnelled:
            self.conn.close()
            return
        if self.resp_started and self.up_eof and exc is None:
            self.upstream_complete(False)  # a close-delimited body ends with the connection
            self.flush()
            return
        if (not self.resp_started and up is not None and up.uses > 1 and not self.retried
                and not self.body_sent and self.req_done):
            self.retried = True  # a pooled connection the backend had closed: try once more
            self.start()
            return
        self.fail(502, "Backend connection closed before a complete response")

    def _drop_upstream(self) -> None:
        up, self.upstream = self.upstream, None
        if up is not None:
            self.conn.server.active.discard(up)
            up.owner = None
            up.abort()
            up.pool.busy -= 1

    def upstream_failed(self, message: str) -> None:
        self._drop_upstream()
        self.fail(502, message)

    def upstream_timeout(self) -> None:
        self._drop_upstream()
        self.fail(504, "Backend did not respond in time")

    def fail(self, status: int, message: str) -> None:
        if self.finished:
            return
        self.conn.server.log_backend_error(status, message)
        if self.resp_started:
            self.finished = True
            self.status = 599 if self.status < 400 else self.status  # counted as an aborted response
            self.conn.server.record(self)
            self.conn.abort()
            return
        self.status = status
        self.keep_alive = self.keep_alive and self.req_done
        self.out.append(json_error(status, message, keep_alive=self.keep_alive,
                                   head_only=self.head_request))
        self.resp_started = True
        self.resp_done = True
        self.up_keep = False
        self.flush()

    def abandon(self) -> None:
        """The client went away: drop the upstream without reusing it."""
        self.finished = True
        if self.connecting is not None:
            self.connecting.cancel()
        self._drop_upstream()

"""The client side of the data plane: one asyncio.Protocol per client connection.

How this works: httptools parses requests as bytes arrive. When a request head is
complete it is validated strictly (framing, Host, limits), routed on the current
snapshot, turned into the upstream request head, and queued as an Exchange.
Exchanges leave the queue in order, so pipelined responses are ordered; reading
pauses while more than one is queued, bounding what a pipelining client can make
us buffer. A request that must be refused becomes a local Exchange carrying the
error response, so it is answered in order too, and the connection closes after
it when the stream cannot be trusted any more.

Invariants: the queue's head is the only exchange writing to the transport;
`pause_reasons` is a bitmask (1 pipelining, 2 body buffer, 4 upstream
back-pressure) and reading resumes only when it is empty; a connection in
`tunnel` mode passes bytes through untouched.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Final

import httptools

from kubegate.proxy.errors import json_error
from kubegate.proxy.exchange import Exchange, Queued
from kubegate.proxy.request import begin_exchange

if TYPE_CHECKING:
    from kubegate.proxy.server import ServerState

INF: Final = float("inf")


class StopParsing(Exception):
    """Raised from a parser callback once the rest of the stream must not be parsed."""


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "server", "scheme", "transport", "parser", "client_ip", "queue", "current",
        "url", "headers", "head_bytes", "in_head", "closing", "pause_reasons",
        "write_paused", "deadline", "tunnel", "upgrade_value", "dead", "head_chunk", "forwarded",
        "chunk", "between", "line_at_start", "last_host", "last_host_line",
    )

    def __init__(self, server: ServerState, scheme: bytes = b"http") -> None:
        self.server = server
        self.scheme = scheme
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = b""
        self.queue: deque[Queued] = deque()
        self.current: Queued | None = None
        self.url = b""  # the request target (httptools may hand it over in pieces)
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_bytes = 0
        self.in_head = False
        self.closing = False
        self.pause_reasons = 0
        self.write_paused = False
        self.deadline = INF
        self.tunnel: Exchange | None = None
        self.upgrade_value = b""
        self.dead = False
        self.head_chunk = 0  # bytes of the chunk that completed the last head, plus before
        self.forwarded = b""  # X-Forwarded-For/Proto lines for this client, made once
        # for http_version: the chunk being parsed (empty outside data_received); whether
        # the parser is between messages; whether the current message began at byte 0
        # of `chunk`
        self.chunk = b""
        self.between = True
        self.line_at_start = False
        self.last_host = b""  # the last valid Host value (never empty) and its
        self.last_host_line = b""  # X-Forwarded-Host line (begin_exchange)

    # -- asyncio.Protocol ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = (peer[0] if isinstance(peer, tuple) else "unix").encode()
        self.forwarded = (b"x-forwarded-for: " + self.client_ip + b"\r\nx-forwarded-proto: "
                          + self.scheme + b"\r\n")
        self.server.connections.add(self)
        self.deadline = self.server.now + self.server.limits_header_timeout
        if self.server.draining:
            self.closing = True

    def data_received(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            if tunnel.tunnelled and tunnel.upstream is not None:
                tunnel.upstream.write(data)
            else:
                tunnel.buffer.append(data)  # until the backend agrees to switch
            return
        if self.dead:
            return
        self.head_chunk = self.head_bytes + len(data)
        self.chunk = data
        self.line_at_start = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args else len(data)
            ex = self.queue[-1] if self.queue else None
            if isinstance(ex, Exchange) and ex.upgrade and not ex.finished:
                self.tunnel = ex
                if data[offset:]:
                    ex.buffer.append(data[offset:])
            self.dead = True  # nothing more is parsed as HTTP on this connection
        except httptools.HttpParserCallbackError as exc:
            if not self.dead:
                self.refuse(400, f"Bad request: {exc.__context__ or exc}")
        except httptools.HttpParserError as exc:
            self.chunk = b""
            self.refuse(400, f"Bad request: {exc}")
            return
        self.chunk = b""
        if self.in_head:  # a head arriving in pieces: bound what we hold of it
            self.head_bytes += len(data)
            if self.head_bytes > self.server.max_head_bytes:
                self.refuse(431, "Request header fields too large")

    def connection_lost(self, exc: Exception | None) -> None:
        self.dead = True
        self.server.connections.discard(self)
        for ex in self.queue:
            ex.abandon()
        self.queue.clear()
        self.server.connection_closed()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.deadline = self.server.now + self.server.idle_timeout
        if self.queue and self.queue[0].upstream is not None:
            self.queue[0].upstream.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.deadline = INF
        if self.queue and self.queue[0].upstream is not None:
            self.queue[0].upstream.resume_reading()

    # -- httptools callbacks ------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.dead:
            raise StopParsing
        self.url = b""
        self.headers = []
        self.in_head = True
        self.line_at_start = self.between
        self.between = False
        self.head_bytes = 0
        self.deadline = self.server.now + self.server.limits_header_timeout

    def http_version(self, method: bytes) -> str:
        """The current request's HTTP version, as httptools' get_http_version gives it.
        Read off the chunk when the request line is at its start and says HTTP/1.1 (a
        2,000-instruction string format saved per request); httptools is asked otherwise."""
        if self.line_at_start:
            at = len(method) + 1 + len(self.url)
            if self.chunk[at:at + 11] == b" HTTP/1.1\r\n":
                return "1.1"
        return self.parser.get_http_version()

    def on_url(self, url: bytes) -> None:
        self.url = self.url + url if self.url else url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.dead:
            raise StopParsing
        self.in_head = False
        self.deadline = INF
        ex = begin_exchange(self)
        self.current = ex
        self.queue.append(ex)
        if len(self.queue) == 1:
            ex.start()
        else:
            self.pause_reading(1)

    def on_body(self, body: bytes) -> None:
        ex = self.current
        if ex is not None and ex.local is None:
            if ex.over_body_limit(len(body)):
                self.current = None
                self.dead = True
                ex.reject_body(413, "Request entity too large")
                return
            ex.request_body(body)
            if not ex.req_done:
                self.deadline = self.server.now + self.server.limits_header_timeout

    def on_message_complete(self) -> None:
        self.between = True
        ex = self.current
        if ex is not None:
            ex.request_complete()
            if ex.finished and not ex.keep_alive and self.transport is not None:
                self.transport.close()
        self.current = None
        self.deadline = INF if self.queue else self.server.now + self.server.idle_timeout

    # -- used by exchanges --------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def exchange_finished(self, ex: Queued) -> None:
        if self.queue and self.queue[0] is ex:
            self.queue.popleft()
        self.server.requests += 1
        if not ex.keep_alive or (self.closing and not self.queue and self.current is None):
            self.close()
            return
        if self.queue:
            self.queue[0].start()
        elif self.current is None:
            self.deadline = self.server.now + self.server.idle_timeout
        if self.pause_reasons & 1 and len(self.queue) <= 1:
            self.resume_reading(1)

    def start_tunnel(self, ex: Exchange) -> None:
        self.deadline = INF
        if ex.buffer and ex.upstream is not None:
            ex.upstream.write(b"".join(ex.buffer))
            ex.buffer.clear()

    def refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be trusted, in order, then close."""
        self.dead = True
        self.closing = True
        self.in_head = False
        self.deadline = INF
        if self.transport is not None:
            self.transport.pause_reading()
        ex = Exchange(self, None, b"", keep_alive=False,
                      local=json_error(status, message, keep_alive=False))
        if self.current is not None and self.current.local is None and not self.current.req_done:
            self.current.abandon()
            if self.queue and self.queue[-1] is self.current:
                self.queue.pop()
        self.current = None
        self.queue.append(ex)
        if len(self.queue) == 1:
            ex.start()

    def pause_reading(self, reason: int) -> None:
        if not self.pause_reasons and self.transport is not None:
            self.transport.pause_reading()
        self.pause_reasons |= reason

    def resume_reading(self, reason: int) -> None:
        if self.pause_reasons & reason:
            self.pause_reasons &= ~reason
            if not self.pause_reasons and self.transport is not None and not self.dead:
                self.transport.resume_reading()

    def pause_client_reading(self) -> None:
        self.pause_reading(4)

    def resume_client_reading(self) -> None:
        self.resume_reading(4)

    def close(self) -> None:
        self.dead = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.dead = True
        if self.transport is not None:
            self.transport.abort()

    def expire(self, now: float) -> None:
        """Called by the server's sweep when `deadline` passed."""
        if self.queue and self.queue[0].upstream is not None and not self.write_paused:
            self.deadline = INF  # waiting on the backend: its own timeout applies
            return
        self.abort() if self.queue else self.close()


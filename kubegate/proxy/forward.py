"""One buffered request to a backend, for operations whose policies run.

How this works: `forward()` takes a pooled upstream connection (or opens one),
writes the whole request, and a Collector owns the connection until the response
is complete, gathering status, headers and body. Failures raise the policy
engine's BackendError (502, or 504 on timeout) so `on-error` sees them. The
connection goes back to its pool only after a complete response the backend
allowed to keep alive; the sweep's response timeout applies as for streamed
requests.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubegate.compile.backends import Backend
from kubegate.policies.errors import BackendError
from kubegate.proxy.errors import reason
from kubegate.proxy.headers import (
    REQUEST_SPECIAL,
    RESPONSE_SPECIAL,
    header_pairs,
    response_header_block,
)
from kubegate.proxy.upstream import UpstreamConnection, connect_failure

CRLF = b"\r\n"
Headers = list[tuple[str, str]]


class Collector:
    """Owner of an upstream connection while one buffered response arrives."""

    tunnelled = False
    write_paused = False  # read by the sweep through `owner.conn`

    def __init__(self, head_request: bool, limit: int) -> None:
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.head_request = head_request
        self.limit = limit
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.keep = False
        self.informational = False
        self.eof_framed = False
        self.conn = self  # UpstreamConnection signals back-pressure to `owner.conn`

    def upstream_head(self, status: int, head: bytes, keep_alive: bool) -> None:
        self.informational = status < 200
        if self.informational:
            return
        block, has_length, chunked = response_header_block(head)
        self.status, self.headers, self.keep = status, header_pairs(block), keep_alive
        self.eof_framed = not has_length and not chunked
        if self.head_request:
            self._done()

    def upstream_body(self, chunk: bytes) -> None:
        if self.informational or self.future.done():
            return
        self.body += chunk
        if self.limit and len(self.body) > self.limit:
            self._fail(502, "Backend response larger than the gateway buffers for policies")

    def upstream_complete(self, keep_alive: bool) -> None:
        if self.informational:
            self.informational = False
            return
        self.keep = keep_alive
        self._done()

    def upstream_lost(self, exc: Exception | None) -> None:
        if self.status and self.eof_framed and exc is None:
            self.keep = False
            self._done()
        else:
            self._fail(502, "Backend connection closed before a complete response")

    def upstream_failed(self, message: str) -> None:
        self._fail(502, message)

    def upstream_timeout(self) -> None:
        self._fail(504, "Backend did not respond in time")

    def upstream_upgraded(self, rest: bytes) -> None:
        self._fail(502, "backend switched protocols unasked")

    def flush(self) -> None:
        pass

    def pause_client_reading(self) -> None:
        pass

    def resume_client_reading(self) -> None:
        pass

    def _done(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def _fail(self, status: int, message: str) -> None:
        self.keep = False
        if not self.future.done():
            self.future.set_exception(BackendError(status, message))


_SPECIAL_NAMES = frozenset(n.decode() for n in REQUEST_SPECIAL)


def request_head(method: str, backend: Backend, path_query: str, headers: Headers,
                 body: bytes | None, forwarded: list[tuple[bytes, bytes]]) -> bytes:
    kept = [f"{name}: {value}\r\n" for name, value in headers
            if name.lower() not in _SPECIAL_NAMES]
    text = "".join(kept)
    # each kept line ends in CRLF; any other CR or LF would split a header
    if text.count("\r") != len(kept) or text.count("\n") != len(kept):
        raise BackendError(500, "a header value holds CR or LF: not forwarded")
    lines = [f"{method} {backend.base_path}{path_query} HTTP/1.1\r\n".encode("latin-1"),
             b"host: " + backend.host_header + CRLF, text.encode("latin-1")]
    for n, v in forwarded:
        if b"\r" in v or b"\n" in v:
            raise BackendError(500, "a header value holds CR or LF: not forwarded")
        lines.append(n + b": " + v + CRLF)
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"content-length: %d\r\n" % len(body or b""))
    lines.append(CRLF)
    return b"".join(lines) + (body or b"")


async def forward(state: object, backend: Backend, method: str, path_query: str, headers: Headers,
                  body: bytes | None, forwarded: list[tuple[bytes, bytes]],
                  limit: int, pool: Any = None) -> tuple[int, str, Headers, bytes]:
    """Send one request and return (status, reason, headers, body) of the response;
    `pool`: one egress.py chose (client certificate, proxy), else the backend's."""
    from kubegate.proxy.server import ServerState

    assert isinstance(state, ServerState)
    if pool is None:
        pool = state.pools.get(backend)
    up: UpstreamConnection | None = pool.take_idle()
    if up is None:
        try:
            up = await pool.connect()
        except OSError as exc:  # TimeoutError included
            raise BackendError(*connect_failure(exc)) from None
    collector = Collector(method == "HEAD", limit)
    up.owner = collector
    up.deadline = state.now + state.response_timeout
    state.active.add(up)
    try:
        up.write(request_head(method, backend, path_query, headers, body, forwarded))
        await collector.future
    finally:
        state.active.discard(up)
        if method == "HEAD":
            up.reset_parser()
        ok = (collector.future.done() and not collector.future.cancelled()
              and collector.future.exception() is None)
        if up.owner is collector:
            up.pool.release(up, collector.keep and ok, state.now)
        else:  # the connection was lost, and with it its owner
            up.pool.busy -= 1
            if not up.closed:
                up.abort()
    out = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in collector.headers
           if n.lower() not in RESPONSE_SPECIAL]
    return collector.status, reason(collector.status).decode(), out, bytes(collector.body)

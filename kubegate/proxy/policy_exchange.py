"""An exchange whose operation has policies: the compiled pipeline decides.

How this works: the request body is gathered (bounded by the body limit), then
the operation's Pipeline runs on a Context built from the request. Its `send`
callback forwards `ctx.Request` through `forward()` to `ctx.backend_url` or the
operation's backend. The final `ctx.Response` is written with Content-Length
framing. It sits in the client connection's queue like a plain Exchange, so
pipelined responses stay in order.

A request without a body on a pipeline with a ``lane`` takes `run_lane` instead,
before it is queued: the policies decide at once and a plain Exchange takes this
one's place (forwarding, streamed, or writing their answer); only what has to
wait stays here (`decided`, or `paused` on a future whose callback goes on).

Invariant: `finished` is set exactly once, when the response is written or the
client went away; nothing is written after that, nor after `streamed` (the response
was handed to a plain Exchange that took this one's place in the queue).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Coroutine
from time import perf_counter
from typing import TYPE_CHECKING, Any

from kubegate.compile.backends import Backend, parse_backend
from kubegate.compile.snapshot import RouteTarget
from kubegate.model.errors import ConfigError
from kubegate.policies.context import Response
from kubegate.policies.errors import STOP, BackendError
from kubegate.policies.pipeline import INTERNAL_ERROR, JSON, Paused
from kubegate.policies.state import PolicyContext
from kubegate.proxy import egress
from kubegate.proxy.eager import is_coroutine, start_eagerly
from kubegate.proxy.errors import json_error, reason
from kubegate.proxy.exchange import Exchange
from kubegate.proxy.forward import forward, request_head
from kubegate.proxy.headers import RESPONSE_SPECIAL, without_fields
from kubegate.proxy.peer import peer_certificate

if TYPE_CHECKING:
    from kubegate.observability.otel import RequestSpan
    from kubegate.proxy.client import ClientConnection

log = logging.getLogger("kubegate.policies")
CRLF = b"\r\n"
MAX_TRACE = 8000  # bytes of JSON in the x-kubegate-trace response header
INF = float("inf")


# a limit's refusal reason -> the kind counted by kubegate_limit_rejections_total
REFUSALS = {"RateLimitExceeded": "rate-limit", "QuotaExceeded": "quota",
            "ConcurrencyLimitExceeded": "concurrency"}


def streamable(pipeline: Any) -> bool:
    """True when nothing after forwarding looks at the response (``streams``: every
    backend step is a plain forward-request, outbound and on-error are empty, in every
    pipeline a subscription gate may choose). Such requests stream their response."""
    return bool(getattr(pipeline, "streams", False))


def send_to_backend(ctx: Any) -> Awaitable[None]:
    """The backend callback (``ctx.send``) of every policy request: forwards through
    the request's PolicyExchange. One function for all, so that policies wrapping it
    during a ``lane`` call still reach the exchange made afterwards."""
    exchange: PolicyExchange = ctx.exchange
    return exchange._send(ctx)


class PolicyExchange:
    local = None
    upgrade = False
    upstream = None
    tunnelled = False
    rid: bytes | None = None  # the request id sent to the backend and back to the client
    span: RequestSpan | None = None
    streamed = False
    prefix: tuple[list[bytes], int, int] | None = None
    """The upstream request head up to its framing as the plain path builds it: its
    pieces (request line and Host, the copied header lines, the lines the gateway
    adds), where the copied lines start and how many there are. Sent when the policies
    left the request as it came, but for deleted headers (see _received_head)."""
    host: bytes | None = None  # the Host the client sent (X-Forwarded-Host)
    pool: Any = None  # the pool of the operation's backend (from the route cache)
    # the request as the pipeline received it (set by _run): method, Url object, path,
    # raw query, Headers object, body
    received: tuple[Any, ...] = ()
    backend_s = 0.0
    status = 0
    bytes_out = 0

    def __init__(self, conn: ClientConnection, target: RouteTarget, ctx: PolicyContext,
                 keep_alive: bool, head_only: bool, body_limit: float,
                 http10: bool = False) -> None:
        self.conn = conn
        self.target = target
        self.ctx = ctx
        self.keep_alive = keep_alive
        self.head_only = head_only
        self.http10 = http10
        self.body_left = body_limit
        self.t0 = perf_counter()
        ctx.exchange = self

    # per-request state that starts out the same for every request
    body: bytearray | None = None  # the request body, once a chunk arrived
    buffer: tuple[bytes, ...] = ()  # (a PolicyExchange never tunnels: nothing is buffered)
    req_done = False
    started = False
    finished = False
    task: asyncio.Task[None] | None = None
    pending: bytes | None = None  # a refusal waiting for its turn in the queue
    decided: object = None  # a lane's outcome, acted on when this exchange's turn comes
    paused: Paused | None = None  # a lane waiting on a future (see _resumed)

    @property
    def subscription(self) -> str | None:
        """The id of the subscription the key check admitted, for metrics and logs."""
        found = self.ctx.Subscription
        return getattr(found, "Id", None) if found is not None else None

    # -- the client connection's side ---------------------------------------------
    def start(self) -> None:
        self.started = True
        if self.pending is not None:
            self._write(self.pending)
        elif self.req_done:
            self._launch()

    def over_body_limit(self, n: int) -> bool:
        self.body_left -= n
        return self.body_left < 0

    @property
    def bytes_in(self) -> int:
        return len(self.body) if self.body is not None else 0

    def request_body(self, chunk: bytes) -> None:
        if not self.finished:
            if self.body is None:
                self.body = bytearray(chunk)
            else:
                self.body += chunk

    def request_complete(self) -> None:
        self.req_done = True
        if self.started:
            self._launch()

    def reject_body(self, status: int, message: str) -> None:
        self.keep_alive = False
        if self.task is not None:
            self.task.cancel()
        refusal = json_error(status, message, keep_alive=False, head_only=self.head_only)
        if self.started:
            self._write(refusal)
        else:
            self.pending = refusal

    def abandon(self) -> None:
        self.finished = True
        if self.task is not None:
            self.task.cancel()
        elif is_coroutine(self.decided):
            self.decided.close()  # type: ignore[attr-defined]  # (a coroutine, just checked)

    # -- running the pipeline --------------------------------------------------------
    def _launch(self) -> None:
        if self.task is not None or self.finished or self.paused is not None:
            return
        rest: Coroutine[Any, Any, None] | None = None
        decided, self.decided = self.decided, None
        if decided is STOP:
            self._write(self._response_bytes(self.ctx.Response))
            return
        if decided is not None and not is_coroutine(decided):  # inbound passed
            forwarding = self._forward_now()
            if forwarding is not None:
                self._hand_off(forwarding)
                return
            rest = decided.execute(self.ctx, send_to_backend, inbound_done=True)  # type: ignore[attr-defined]
        elif decided is not None:
            rest = decided  # type: ignore[assignment]
        loop = self.conn.server.loop or asyncio.get_running_loop()
        self.task = start_eagerly(self._run(rest), loop)

    def _receive(self) -> PolicyContext:
        """The context as the pipeline starts with it: the body in place, what came
        noted (`received`), the client's certificate when the listener asks for one."""
        ctx = self.ctx
        request = ctx.Request
        request.Body.content = body = bytes(self.body) if self.body else b""
        url = request.Url
        self.received = (request.Method, url, url.Path, url._raw_query, request.Headers, body)
        if self.conn.scheme == b"https":
            request.Certificate = peer_certificate(self.conn.transport)
        return ctx

    async def _run(self, rest: Coroutine[Any, Any, None] | None = None) -> None:
        """The pipeline (or, after a lane call, what is left of it), then the answer."""
        try:
            if rest is None:
                await self.target.pipeline.execute(self._receive(), send_to_backend)
            else:
                await rest
            if self.streamed:
                return
            response = self.ctx.Response
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a policy must not take the worker down
            response = self._crashed()
        self._write(self._response_bytes(response))

    def run_lane(self, lane: Any) -> Exchange | PolicyExchange:
        """Run the pipeline's ``lane`` now, for a request without a body, before this
        exchange is queued. Returns what takes its place in the client's queue: a
        plain Exchange forwarding the request (streaming) or answering with the
        policies' response; or this exchange, to finish what must wait (`decided`,
        `paused`) when its turn comes."""
        ctx = self._receive()
        try:
            outcome = lane(ctx, send_to_backend)
        except Exception:  # a bug in a policy must not take the worker down
            return self._answer(self._crashed())
        if outcome is STOP:
            return self._answer(ctx.Response)
        if outcome.__class__ is Paused:
            self._pause(outcome)  # type: ignore[arg-type]
            return self
        if not is_coroutine(outcome):  # the pipeline whose inbound passed
            forwarding = self._forward_now()
            if forwarding is not None:
                return forwarding
        self.decided = outcome
        return self

    def _crashed(self) -> Response:
        """Log the exception being handled (a policy failed where it must not) and
        return the 500 the client gets."""
        log.exception("policy pipeline of %s/%s failed", self.target.api, self.target.operation)
        return Response(500, "Internal Server Error", list(JSON), INTERNAL_ERROR)

    def _pause(self, paused: Paused) -> None:
        self.paused = paused
        paused.future.add_done_callback(self._resumed)

    def _resumed(self, _: Any) -> None:
        """The future a paused lane waited on is done: go on, and act when it is this
        exchange's turn (now, or when the client connection starts it)."""
        paused, self.paused = self.paused, None
        if self.finished or paused is None:
            return
        try:
            outcome = paused.resume(self.ctx)
        except Exception:  # a bug in a policy must not take the worker down
            self.ctx.Response = self._crashed()
            outcome = STOP
        if outcome.__class__ is Paused:
            self._pause(outcome)  # type: ignore[arg-type]
            return
        self.decided = outcome
        if self.started and self.req_done:
            self._launch()

    def _forward_now(self) -> Exchange | None:
        """After inbound passed: the plain exchange streaming the request as the policies
        left it, or None when something must look at the response (a policy wrapped
        the backend callback or asked for response headers) or the backend is invalid."""
        ctx = self.ctx
        if ctx.send is not send_to_backend or ctx.response_headers:
            return None
        if ctx.backend_url is None and ctx.backend_certificate is None \
                and ctx.backend_proxy is None:  # the usual way: the operation's backend
            return self._forwarding(ctx, self.target.backend)
        backend = self._backend_or_none(ctx)
        if backend is None:
            return None
        pool, backend, extra = self._egress(ctx, backend)
        return self._forwarding(ctx, backend, pool, extra)

    def _answer(self, response: Response) -> Exchange:
        """A plain exchange writing the policies' response in this one's place."""
        return self._successor(None, b"", self._response_bytes(response))

    def _path_query(self, ctx: Any) -> str:
        url = ctx.Request.Url
        path = url.Path
        prefix = self.target.prefix  # policies see the full path; the backend gets the rest
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix):] or "/"
        query = url.QueryString.lstrip("?")
        return path + ("?" + query if query else "")

    def _forwarded(self, ctx: Any) -> list[tuple[bytes, bytes]]:
        """X-Forwarded-* as the plain path sends them: the chain the policies left in
        X-Forwarded-For with the client's address appended, the scheme, the Host."""
        conn = self.conn
        if not conn.server.forwarded_headers:
            return []
        chain = ctx.Request.Headers.get("X-Forwarded-For")
        out = [(b"x-forwarded-for", chain.encode("latin-1") + b", " + conn.client_ip
                if chain else conn.client_ip), (b"x-forwarded-proto", conn.scheme)]
        if self.host:
            out.append((b"x-forwarded-host", self.host))
        return out

    def _received_head(self, ctx: Any) -> bytes | None:
        """The upstream head from the prefix, less the header lines policies deleted, and
        framed for the body, when the policies left the request otherwise as it came:
        same method, path, query string, Headers (nothing set or appended) and body. None
        when something else changed."""
        request = ctx.Request
        url = request.Url
        method, received_url, path, query, headers, body = self.received
        if not (url is received_url and url._query is None and request.Headers is headers
                and not headers.edited and request.Body.content is body
                and request.Method == method and url.Path == path and url._raw_query == query):
            return None
        assert self.prefix is not None
        pieces, first, count = self.prefix
        if headers.removed:  # (usually one: the subscription key's header)
            gone = {name.encode("latin-1") for name in headers.removed}
            if not gone.isdisjoint(self.conn.server.derived_fields):
                return None  # the gateway's own lines would have to change
            end = first + count
            pieces = [*pieces[:first], *without_fields(pieces[first:end], gone), *pieces[end:]]
        if body or method in ("POST", "PUT", "PATCH"):
            return b"".join(pieces) + b"content-length: %d\r\n\r\n" % len(body) + body
        return b"".join([*pieces, CRLF])

    async def _send(self, ctx: Any) -> None:
        backend = self._backend(getattr(ctx, "backend_url", None))
        pool, backend, extra = self._egress(ctx, backend)
        if (ctx.send is send_to_backend and not ctx.response_headers and ctx.trace is None
                and streamable(self.target.pipeline)):
            self._hand_off(self._forwarding(ctx, backend, pool, extra))  # stream the response
            return
        path_query = self._path_query(ctx)
        body = ctx.Request.Body.content
        state = self.conn.server
        forwarded = self._forwarded(ctx) + extra
        started = perf_counter()
        status, phrase, headers, data = await forward(
            state, backend, ctx.Request.Method, path_query, ctx.Request.Headers.to_list(), body,
            forwarded, state.max_body, pool)
        self.backend_s += perf_counter() - started
        ctx.Response = Response(status, phrase, headers, data)

    def _egress(self, ctx: Any, backend: Backend) -> tuple[Any, Backend, list[tuple[bytes, bytes]]]:
        """The pool, head backend and extra headers when authentication-certificate or
        proxy chose the way to the backend (egress.py); else the default pool."""
        cert, via = getattr(ctx, "backend_certificate", None), getattr(ctx, "backend_proxy", None)
        if cert is None and via is None:
            return None, backend, []
        return egress.route(self.conn.server.pools, backend, cert, via)

    def _forwarding(self, ctx: Any, backend: Backend, pool: Any = None,
                    extra: list[tuple[bytes, bytes]] | None = None) -> Exchange:
        """A plain exchange forwarding the request as the policies left it, on the
        streaming path: the response goes to the client as it arrives."""
        head = None
        if self.prefix is not None and not extra and backend is self.target.backend:
            head = self._received_head(ctx)
        if head is None:
            head = request_head(ctx.Request.Method, backend, self._path_query(ctx),
                                ctx.Request.Headers.to_list(), ctx.Request.Body.content or b"",
                                self._forwarded(ctx) + (extra or []))
        if pool is None and backend is not self.target.backend:
            pool = self.conn.server.pools.get(backend)
        return self._successor(pool or self.pool, head)

    def _successor(self, pool: Any, head: bytes, local: bytes | None = None) -> Exchange:
        """The plain exchange taking this one's place: forwarding `head` (the whole
        request) on `pool`, or writing `local`. It reports what this one would: route,
        start, span, ids, status."""
        if local is None:
            ex = Exchange(self.conn, pool or self.conn.server.pools.get(self.target.backend),
                          head, False, self.head_only, self.keep_alive, False, self.http10,
                          None, INF)
            ex.req_done = True
            ex.body_sent = bool(self.ctx.Request.Body.content)  # no retry once a body went out
        else:
            ex = Exchange(self.conn, None, b"", keep_alive=self.keep_alive, local=local)
            ex.status = self.status
        ex.target = self.target
        ex.t0 = self.t0
        ex.span, self.span = self.span, None
        ex.rid = self.rid
        subscription = self.subscription
        if subscription is not None:  # (unset, the class default: keeps Exchange's layout)
            ex.subscription = subscription
        self.streamed = True  # from here the new exchange answers (see the invariant)
        self.ctx.exchange = None  # no cycle: both are freed as soon as they are done
        return ex

    def _hand_off(self, ex: Exchange) -> None:
        """Put `ex` in this exchange's place at the head of the client's queue and start
        it. ctx.Response stays unset: nothing reads it. (`finished` stays False: the
        response is not written yet, so a client connection told to close after it
        must not close now.)"""
        queue = self.conn.queue
        if queue and queue[0] is self:
            queue[0] = ex  # type: ignore[call-overload]
            ex.start()

    def _backend_or_none(self, ctx: Any) -> Backend | None:
        """The backend `set-backend-service` chose, or None when its URL is invalid
        (the asynchronous path then reports the error as a policy error)."""
        try:
            return self._backend(ctx.backend_url)
        except BackendError:
            return None

    def _backend(self, url: str | None) -> Backend:
        if not url:
            return self.target.backend
        cache = self.conn.server.backend_cache
        backend = cache.get(url)
        if backend is None:
            try:
                backend = parse_backend(url, "set-backend-service")
            except ConfigError as exc:
                raise BackendError(500, f"invalid backend URL {url!r}: {exc}") from None
            if len(cache) < 1024:
                cache[url] = backend
        return backend

    def _response_bytes(self, response: Response) -> bytes:
        """The policies' answer as bytes (made once per answered request: a limit's
        refusal is counted here)."""
        error = self.ctx.LastError
        if error is not None:
            kind = REFUSALS.get(getattr(error, "Reason", ""))
            if kind is not None:
                self.conn.server.metrics.reject(self.target.api, kind)
        status = self.status = int(response.StatusCode)
        body = response.Body.content or b""
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason(status))]
        for name, value in response.Headers.to_list():
            raw = name.encode("latin-1")
            if raw.lower() in RESPONSE_SPECIAL:
                continue
            data = value.encode("latin-1")
            if b"\r" in data or b"\n" in data or b"\r" in raw or b"\n" in raw:
                continue  # never split a response header (policies refuse such values)
            lines.append(raw + b": " + data + CRLF)
        trace = self.ctx.trace
        if trace is not None and self._may_trace():
            text = json.dumps(trace, ensure_ascii=True, separators=(",", ":"))
            while len(text) > MAX_TRACE and len(trace) > 1:  # keep the beginning
                trace = trace[: len(trace) // 2]
                text = json.dumps([*trace, "... (trace cut)"], ensure_ascii=True)
            lines.append(b"x-kubegate-trace: " + text.encode() + CRLF)
        if self.rid is not None and response.Headers.values_of(
                self.conn.server.rid_header) is None:
            lines.append(self.conn.server.rid_line + self.rid + CRLF)
        if status >= 200 and status not in (204, 304):
            lines.append(b"content-length: %d\r\n" % len(body))
        if not self.keep_alive or self.conn.closing:
            self.keep_alive = False
            lines.append(b"connection: close\r\n")
        lines.append(CRLF)
        if not self.head_only and status not in (204, 304):
            lines.append(body)
        return b"".join(lines)

    def _may_trace(self) -> bool:
        """Live traces only for subscriptions that allow them, or from the gateway's host."""
        if self.ctx.trace_allowed:
            return True
        try:
            return ipaddress.ip_address(self.conn.client_ip.decode()).is_loopback
        except ValueError:
            return False

    def _write(self, data: bytes) -> None:
        if self.finished or self.streamed:
            return
        self.finished = True
        self.ctx.exchange = None
        self.bytes_out = len(data)
        if not self.status:
            self.status = int(data[9:12]) if data[9:12].isdigit() else 0
        self.conn.write(data)
        self.conn.server.record(self)
        self.conn.exchange_finished(self)

"""A worker's serving state and its listeners.

How this works: ServerState holds the current Snapshot (swapped atomically by
`install`), the upstream pools shared by all snapshots, and the open client
connections. A sweep task ticks every SWEEP_INTERVAL seconds: it refreshes the
coarse clock `now` that requests read instead of calling time functions, expires
connections whose `deadline` passed, times out silent backends and closes idle
pooled connections. Timeouts are therefore exact to within one tick.

Invariants: a request reads `snapshot` once, when its head is routed, so a reload
never changes a request in flight; `draining` only ever goes from False to True.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import ssl
import time
from time import perf_counter
from typing import TYPE_CHECKING, Any

from kubegate.compile.snapshot import RouteTarget, Snapshot
from kubegate.model.config import Gateway, Listener
from kubegate.observability import AccessLog, RequestMetrics
from kubegate.proxy.client import ClientConnection
from kubegate.proxy.headers import REQUEST_INTERCEPTED
from kubegate.proxy.upstream import Pools, UpstreamConnection

if TYPE_CHECKING:
    from kubegate.observability.otel import RequestTracer

log = logging.getLogger("kubegate.proxy")
SWEEP_INTERVAL = 0.25
NO_CHECK_TIME = ssl.VerifyFlags(0x200000)  # OpenSSL X509_V_FLAG_NO_CHECK_TIME


DERIVED_FIELDS = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
                            b"traceparent"})


class ServerState:
    def __init__(self, snapshot: Snapshot, gateway: Gateway) -> None:
        self.snapshot = snapshot
        limits, timeouts = gateway.limits, gateway.timeouts
        self.max_head_bytes = limits.max_request_line + limits.max_header_size
        self.max_request_line = limits.max_request_line
        self.max_header_size = limits.max_header_size
        self.max_headers = limits.max_headers
        self.max_body = limits.max_body_size
        self.limits_header_timeout = timeouts.header
        self.idle_timeout = timeouts.idle
        self.response_timeout = timeouts.response
        self.upstream_idle_timeout = gateway.upstream.idle_timeout
        self.forwarded_headers = gateway.forwarded_headers
        self.pools = Pools(gateway.upstream.max_idle_per_backend, timeouts.connect,
                           timeouts.response, self)
        self.connections: set[ClientConnection] = set()
        self.active: set[UpstreamConnection] = set()
        self.now: float = time.monotonic()
        self.draining = False
        self.requests = 0
        self.backend_cache: dict[str, Any] = {}  # set-backend-service URLs, parsed once
        # Host values already checked -> their X-Forwarded-Host line
        self.valid_hosts: dict[bytes, bytes] = {}
        self.route_infos: dict[int, tuple[Any, Any, Any]] = {}  # context.Api/Operation per route
        self.routes: dict[bytes, Any] = {}
        """Recent routing results of the current snapshot: b"METHOD /raw/path" -> the
        route `request._route` made (match, method text, normalised path, upstream request
        line start, Host field, backend pool, head gate) or None for no route.
        Emptied by `install` and when it reaches request.ROUTE_CACHE_SIZE entries."""
        obs = gateway.observability
        self.metrics = RequestMetrics()
        self.access_log: AccessLog | None = (
            AccessLog(obs.access_log, sample=obs.access_log_sample) if obs.access_log else None)
        self.tracer: RequestTracer | None = None
        if obs.tracing is not None:  # the SDK is imported only when tracing is on
            from kubegate.observability.otel import request_tracer
            self.tracer = request_tracer(obs.tracing)
        name = obs.request_id_header
        self.rid_name = name.lower().encode("latin-1") if name else None
        self.rid_line: bytes = (name or "").encode("latin-1") + b": "
        self.rid_header: str = name or ""  # the same name, for policy-path Headers
        # header lines the gateway writes itself on a forwarded request (a policy that
        # deletes one of these makes the policy path write the head anew)
        self.derived_fields = DERIVED_FIELDS | {self.rid_name} if self.rid_name else DERIVED_FIELDS
        # request fields begin_exchange looks at instead of copying (the request id's too)
        self._intercepted = (REQUEST_INTERCEPTED | {self.rid_name} if self.rid_name
                             else REQUEST_INTERCEPTED)
        self.key_fields: frozenset[bytes] = frozenset()
        """The subscription-key header names of the snapshot's APIs (lower case) that
        begin_exchange notes while copying the head, for SubscriptionGate.admit_head;
        one that the gateway intercepts anyway (Host...) is left to the full check."""
        self.intercepted: frozenset[bytes] = self._intercepted
        self._key_fields_of(snapshot)
        self._rid_prefix = b"%08x-%x-" % (secrets.randbits(32), os.getpid())
        self._rid_count = 0
        self.backend_errors = 0
        self._idle_event: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        """The serving loop, set by `Listeners.start`: requests use it instead of
        asyncio.get_running_loop(), which costs a getpid() system call in Python 3.11."""

    def install(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.routes = {}  # results of the old snapshot's router must not outlive it
        self._key_fields_of(snapshot)

    def _key_fields_of(self, snapshot: Snapshot) -> None:
        """`key_fields` and `intercepted` (request fields begin_exchange looks at) for
        `snapshot`: the fields the gateway re-derives or acts on, the request id's, and
        the APIs' subscription-key headers."""
        names = {api.subscription_key_header.lower().encode("latin-1")
                 for api in snapshot.config.apis}
        self.key_fields = frozenset(names - self._intercepted)
        self.intercepted = self._intercepted | self.key_fields

    def next_request_id(self) -> bytes:
        """Unique per gateway process: a random prefix, the pid and a counter."""
        self._rid_count += 1
        return self._rid_prefix + str(self._rid_count).encode("ascii")  # (not b"%x" %: slow)

    def record(self, ex: Any) -> None:
        """Metrics, access log and trace span for a finished exchange (about a microsecond)."""
        target = ex.target
        api, operation = (target.api, target.operation) if target is not None else ("-", "-")
        subscription = ex.subscription
        total = self.observe(target, ex.status, subscription, ex.t0, ex.backend_s)
        if self.access_log is not None:
            rid = ex.rid.decode("latin-1") if ex.rid else ""
            self.access_log.log(rid, ex.conn.client_ip.decode(), api, operation, subscription,
                                ex.status, ex.bytes_in, ex.bytes_out, total, ex.backend_s)
        if ex.span is not None:
            if subscription is not None:
                ex.span.span.set_attribute("kubegate.subscription", subscription)
            ex.span.finish(ex.status, {
                "kubegate.request_id": ex.rid.decode("latin-1") if ex.rid else "",
                "http.request.body.size": ex.bytes_in, "http.response.body.size": ex.bytes_out,
                "kubegate.backend.duration_ms": round(ex.backend_s * 1000, 3)})
            ex.span = None

    def observe(self, target: RouteTarget | None, status: int, subscription: str | None,
                t0: float, backend_s: float) -> float:
        """The metrics part of `record`, from plain values; returns the request's duration.
        A compiled exchange calls it directly when there is no access log and no span:
        reading an exchange's attributes through `Any` costs more than the metrics."""
        total = perf_counter() - t0
        if target is None:
            self.metrics.observe("-", "-", status, subscription, total, backend_s)
        else:
            self.metrics.observe(target.api, target.operation, status, subscription, total,
                                 backend_s)
        return total

    def log_backend_error(self, status: int, message: str) -> None:
        self.backend_errors += 1
        log.warning("backend error %d: %s", status, message)

    def connection_closed(self) -> None:
        if self._idle_event is not None and not self.connections:
            self._idle_event.set()

    def sweep(self, now: float | None = None) -> None:
        now = self.now = time.monotonic() if now is None else now
        for conn in [c for c in self.connections if c.deadline < now]:
            conn.expire(now)
        for up in [u for u in self.active if u.deadline < now]:
            owner = up.owner
            if owner is None or owner.tunnelled:
                continue
            if owner.conn.write_paused:
                up.deadline = now + self.response_timeout  # the client is slow, not the backend
                continue
            owner.upstream_timeout()
        self.pools.sweep(now - self.upstream_idle_timeout)

    async def sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep()

    async def drain(self, grace: float) -> None:
        """Stop taking requests on open connections, let in-flight ones finish."""
        self.draining = True
        self._idle_event = asyncio.Event()
        for conn in list(self.connections):
            conn.closing = True
            if not conn.queue and conn.current is None and not conn.in_head:
                conn.abort()  # idle: nothing in flight; a TLS goodbye could wait on the client
        if self.connections:
            try:
                await asyncio.wait_for(self._idle_event.wait(), grace)
            except TimeoutError:
                log.warning("%d connections still open after %.0fs: closing them",
                            len(self.connections), grace)
                for conn in list(self.connections):
                    conn.abort()
        self.pools.close_all()


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def tls_context(listener: Listener) -> ssl.SSLContext | None:
    if listener.tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(listener.tls.certificate, listener.tls.key)
    ctx.set_alpn_protocols(["http/1.1"])
    if listener.tls.client_certificate != "off":  # mutual TLS (peer.py, validate-client-certificate)
        ctx.load_verify_locations(listener.tls.client_ca)
        ctx.verify_mode = (ssl.CERT_REQUIRED if listener.tls.client_certificate == "required"
                           else ssl.CERT_OPTIONAL)
        ctx.verify_flags |= NO_CHECK_TIME  # the chain is checked here, the dates by the policy
    return ctx


class Listeners:
    """The data-plane servers of one worker process."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.servers: list[asyncio.AbstractServer] = []
        self.addresses: list[tuple[str, int]] = []

    async def start(self, listeners: list[Listener], reuse_port: bool) -> None:
        loop = self.state.loop = asyncio.get_running_loop()
        for listener in listeners:
            host, port = listener.host_port
            ctx = tls_context(listener)
            scheme = b"https" if ctx else b"http"
            sock = listening_socket(host, port, reuse_port)
            server = await loop.create_server(
                lambda scheme=scheme: ClientConnection(self.state, scheme),  # type: ignore[misc]
                sock=sock, ssl=ctx, backlog=4096,
            )
            self.servers.append(server)
            self.addresses.append(sock.getsockname()[:2])

    def stop_accepting(self) -> None:
        for server in self.servers:
            server.close()

"""How a policy request reaches its backend when policies changed the way there:
a client certificate (authentication-certificate) or an HTTP proxy (proxy).

How this works: `route()` returns the pool, the backend as the request head must
name it, and extra header lines. With a client certificate an https backend gets a
Pool of its own (key: backend + thumbprint) whose SSL context presents the
certificate. Through a proxy, an http backend is reached by sending absolute-form
requests (`GET http://backend/path`) to the proxy's own pool, with
`Proxy-Authorization`; an https backend through a TunnelPool (key: backend + proxy +
credentials + certificate) whose connections are `CONNECT` tunnels with TLS to the
backend inside. Pools live in the worker's `Pools`, so the sweep and shutdown cover
them like any other.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from kubegate.compile.backends import Backend
from kubegate.policies.errors import BackendError
from kubegate.policies.state import ProxyRoute
from kubegate.proxy.upstream import MAX_RESPONSE_HEAD, Pool, Pools, UpstreamConnection

Extra = list[tuple[bytes, bytes]]
log = logging.getLogger("kubegate.proxy.egress")


def route(pools: Pools, backend: Backend, certificate: Any, via: ProxyRoute | None
          ) -> tuple[Any, Backend, Extra]:
    """(pool, backend for the request head, extra header lines) of one backend call."""
    https = backend.scheme == "https" and backend.ref is None
    context = _context(certificate) if certificate is not None and https else None
    thumb = certificate.thumbprint if context is not None else ""
    if via is None:
        if context is None:
            return pools.get(backend), backend, []
        return pools.variant(backend, ("cert", thumb), lambda: Pool(
            backend, pools.max_idle, pools.connect_timeout, pools.response_timeout, pools.clock,
            ssl_context=context)), backend, []
    if backend.ref is not None:
        raise BackendError(500, f"the proxy policy cannot route {backend.ref}: k8s:// and "
                                "nodeport:// backends are reached directly")
    if backend.scheme == "http":
        absolute = Backend("http", via.host, via.port,
                           "http://" + backend.host_header.decode("ascii") + backend.base_path,
                           backend.host_header)
        extra = [(b"proxy-authorization", via.authorization)] if via.authorization else []
        return pools.get(absolute), absolute, extra
    credentials = hashlib.sha256(via.authorization or b"").hexdigest()[:16]
    return pools.variant(backend, ("via", credentials, thumb, via.url), lambda: TunnelPool(
        backend, via, pools, context)), backend, []


def _context(certificate: Any) -> Any:
    try:
        return certificate.client_context()
    except (ValueError, OSError) as exc:  # no key; ssl refused the key or chain
        raise BackendError(500, f"client certificate {certificate!r} cannot be used: {exc}",
                           "CertificateUnusable") from None


class ConnectAnswer(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT: the head only, nothing may follow it."""

    def __init__(self) -> None:
        self.head = b""
        self.answer: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_RESPONSE_HEAD:
                self.answer.set_exception(ConnectionError(0, "proxy answer head too large"))
            return
        line = self.head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ", 2)
        code = parts[1] if len(parts) > 1 else ""
        if (not parts[0].startswith("HTTP/1.") or len(code) != 3
                or any(c not in "0123456789" for c in code)):
            self.answer.set_exception(ConnectionError(0, f"proxy sent {line[:80]!r}"))
            return
        status = int(code)
        # The status first: a refusal (407 ...) may carry a body, which is not read.
        if 200 <= status < 300 and self.head[end + 4:]:
            self.answer.set_exception(ConnectionError(0, "proxy sent bytes after its answer"))
        else:
            self.answer.set_result((status, parts[2] if len(parts) > 2 else ""))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(ConnectionResetError(0, "proxy closed the connection "
                                                              "before answering CONNECT"))


class TunnelPool(Pool):
    """Keep-alive connections to an https backend, each a CONNECT tunnel through a proxy."""

    def __init__(self, backend: Backend, via: ProxyRoute, pools: Pools, context: Any) -> None:
        super().__init__(backend, pools.max_idle, pools.connect_timeout, pools.response_timeout,
                         pools.clock, ssl_context=context)
        self.via = via

    async def connect(self) -> UpstreamConnection:
        conn = await asyncio.wait_for(self._open(), self.connect_timeout)
        self.opened += 1
        self.busy += 1
        conn.uses = 1
        return conn

    async def _open(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        b, via = self.backend, self.via
        authority = (f"[{b.host}]" if ":" in b.host else b.host) + f":{b.port}"
        # The details (the proxy's address, its answer) go to the log only: the message
        # of these errors reaches the client (connect_failure).
        try:
            transport, answer = await loop.create_connection(ConnectAnswer, via.host, via.port)
        except TimeoutError:
            raise
        except OSError as exc:
            log.warning("proxy %s unreachable for CONNECT %s: %s", via.url, authority, exc)
            raise ConnectionRefusedError(exc.errno or 0, "the HTTP proxy is unreachable") from None
        try:
            head = f"CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n".encode("ascii")
            if via.authorization:
                head += b"proxy-authorization: " + via.authorization + b"\r\n"
            transport.write(head + b"\r\n")
            try:
                status, phrase = await answer.answer
            except ConnectionError as exc:
                log.warning("proxy %s: CONNECT %s failed: %s", via.url, authority, exc)
                raise ConnectionError(0, "the HTTP proxy did not open the tunnel") from None
            if not 200 <= status < 300:
                log.warning("proxy %s refused CONNECT %s: %s %s", via.url, authority, status, phrase)
                raise ConnectionRefusedError(0, f"the HTTP proxy refused the tunnel ({status})")
            conn = UpstreamConnection(self)
            assert self._ssl is not None
            tls = await loop.start_tls(transport, conn, self._ssl, server_hostname=b.host)
        except BaseException:
            transport.close()
            raise
        if tls is None:
            raise ConnectionResetError(0, "the TLS handshake through the proxy did not complete")
        conn.connection_made(tls)
        return conn

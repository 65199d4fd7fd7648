"""egress.route: which pool, head backend and extra headers a policy request uses."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from kubegate.compile.backends import parse_backend
from kubegate.policies.errors import BackendError
from kubegate.policies.state import ProxyRoute
from kubegate.proxy.egress import ConnectAnswer, TunnelPool, route
from kubegate.proxy.forward import request_head
from kubegate.proxy.upstream import Pool, Pools, UpstreamConnection, connect_failure
from kubegate.services.certificates import HeldCertificate
from tests.policies.x509_factory import Pki
from tests.proxy.conftest import FakeTransport


@pytest.fixture(scope="module")
def held() -> HeldCertificate:
    cert, key = Pki().issue("client")
    return HeldCertificate(cert, key, id="c")


def pools() -> Pools:
    return Pools(8, 1.0)


def test_certificate_gets_its_own_pool_for_https(held: HeldCertificate) -> None:
    p = pools()
    https = parse_backend("https://api.example:8443/v1")
    plain_pool, backend, extra = route(p, https, None, None)
    assert plain_pool is p.get(https) and backend is https and extra == []
    cert_pool, backend, extra = route(p, https, held, None)
    assert cert_pool is not plain_pool and backend is https and extra == []
    assert cert_pool._ssl is held.client_context()
    assert route(p, https, held, None)[0] is cert_pool  # one pool per backend + certificate
    assert f"https://api.example:8443 (cert {held.thumbprint})" in p.stats()
    http = parse_backend("http://api.example")  # no TLS: nothing to present
    assert route(p, http, held, None)[0] is p.get(http)


def test_proxy_for_http_backends_uses_absolute_form() -> None:
    p = pools()
    via = ProxyRoute("10.0.0.5", 3128, b"Basic YTpi")
    pool, backend, extra = route(p, parse_backend("http://api.example:8080/base"), None, via)
    assert (backend.host, backend.port) == ("10.0.0.5", 3128)
    assert pool is p.get(backend)
    head = request_head("GET", backend, "/orders?x=1", [("Accept", "*/*")], None, extra)
    assert head.startswith(b"GET http://api.example:8080/base/orders?x=1 HTTP/1.1\r\n"
                           b"host: api.example:8080\r\n")
    assert b"proxy-authorization: Basic YTpi\r\n" in head
    assert route(p, parse_backend("http://api.example"), None, ProxyRoute("p", 80))[2] == []


def test_proxy_for_https_backends_tunnels(held: HeldCertificate) -> None:
    p = pools()
    https = parse_backend("https://api.example")
    via = ProxyRoute("10.0.0.5", 3128, b"Basic YTpi")
    pool, backend, _ = route(p, https, held, via)
    assert isinstance(pool, TunnelPool) and backend is https and pool.via is via
    assert route(p, https, held, via)[0] is pool
    assert route(p, https, None, via)[0] is not pool  # another certificate: another tunnel pool
    assert route(p, https, held, ProxyRoute("10.0.0.5", 3128, b"Basic other"))[0] is not pool
    assert not any("YTpi" in key for key in p.stats())  # credentials stay out of the stats


def test_service_backends_cannot_use_a_proxy() -> None:
    with pytest.raises(BackendError, match="cannot route k8s://shop/orders"):
        route(pools(), parse_backend("k8s://shop/orders:80/"), None, ProxyRoute("p", 80))


def test_certificate_without_key_is_a_500() -> None:
    cert, _ = Pki().issue("nokey")
    with pytest.raises(BackendError) as info:
        route(pools(), parse_backend("https://a"), HeldCertificate(cert), None)
    assert info.value.status == 500 and "no private key" in info.value.message


@pytest.mark.parametrize(("data", "result"), [
    ([b"HTTP/1.1 200 Connection established\r\n\r\n"], (200, "Connection established")),
    ([b"HTTP/1.1 407 Proxy Auth", b"entication Required\r\nx: y\r\n\r\n"],
     (407, "Proxy Authentication Required")),
    ([b"SSH-2.0-OpenSSH\r\n\r\n"], "proxy sent"),
    ([b"HTTP/1.1 200 OK\r\n\r\nextra"], "bytes after its answer"),
    # a refusal with a body: the status counts, the body is not read
    ([b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 4\r\n\r\ndeny"],
     (407, "Proxy Authentication Required")),
    ([b"HTTP/1.1 204 No Content\r\n\r\n"], (204, "No Content")),  # any 2xx opens it
    ([b"HTTP/1.1 \xc2\xb200 OK\r\n\r\n"], "proxy sent"),  # not ASCII digits
    ([b"HTTP/1.1 \xb2\xb2\xb2 OK\r\n\r\n"], "proxy sent"),  # latin-1 superscripts
])
async def test_connect_answer(data: list[bytes], result: Any) -> None:
    answer = ConnectAnswer()
    for chunk in data:
        answer.data_received(chunk)
    if isinstance(result, tuple):
        assert await answer.answer == result
    else:
        with pytest.raises(ConnectionError, match=result):
            await answer.answer


async def test_connect_answer_lost() -> None:
    answer = ConnectAnswer()
    answer.connection_lost(None)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(answer.answer, 1)


def test_proxy_route_repr_hides_the_credentials() -> None:
    via = ProxyRoute("10.0.0.5", 3128, b"Basic c2VjcmV0OnB3")
    assert "c2VjcmV0" not in repr(via) and "10.0.0.5" in repr(via)


class FakeProxy:
    """A listening socket that answers every CONNECT with `answer`, then closes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.server: asyncio.Server | None = None
        self.seen = b""

    async def __aenter__(self) -> ProxyRoute:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.seen = await reader.readuntil(b"\r\n\r\n")
            writer.write(self.answer)
            await writer.drain()
            writer.close()
        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return ProxyRoute("127.0.0.1", port, b"Basic YTpi")

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def tunnel(via: ProxyRoute) -> TunnelPool:
    return route(pools(), parse_backend("https://api.example"), None, via)[0]  # type: ignore[no-any-return]


async def test_refused_connect_hides_the_proxy_address(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeProxy(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"content-length: 4\r\n\r\ndeny") as via:
        with pytest.raises(ConnectionRefusedError) as info:
            await tunnel(via).connect()
    status, message = connect_failure(info.value)
    assert status == 502 and "407" in message
    assert "127.0.0.1" not in message and str(via.port) not in message
    assert f"127.0.0.1:{via.port}" in caplog.text and "407" in caplog.text  # logged instead


async def test_unreachable_proxy_hides_its_address(caplog: pytest.LogCaptureFixture) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: refused
    port = sock.getsockname()[1]
    try:
        with pytest.raises(OSError) as info:
            await tunnel(ProxyRoute("127.0.0.1", port)).connect()
    finally:
        sock.close()
    status, message = connect_failure(info.value)
    assert status == 502 and "127.0.0.1" not in message and str(port) not in message
    assert str(port) in caplog.text


async def test_any_2xx_opens_the_tunnel() -> None:
    """A 2xx other than 200 is success: the TLS handshake starts (and fails here, the
    fake proxy hangs up), instead of a refusal."""
    async with FakeProxy(b"HTTP/1.1 204 No Content\r\n\r\n") as via:
        with pytest.raises(OSError) as info:
            await tunnel(via).connect()
    assert not isinstance(info.value, ConnectionRefusedError), info.value


def test_variant_pools_are_bounded_least_recently_used_first() -> None:
    p = pools()
    p.MAX_VARIANTS = 2
    backend = parse_backend("https://api.example")
    plain = p.get(backend)

    def make() -> Pool:
        return Pool(backend, 8, 1.0)
    a = p.variant(backend, ("cert", "a"), make)
    idle = UpstreamConnection(a)
    idle_transport = FakeTransport()
    idle.connection_made(idle_transport)
    a.idle.append(idle)
    b = p.variant(backend, ("cert", "b"), make)
    assert p.variant(backend, ("cert", "a"), make) is a  # a used last: b is the oldest
    c = p.variant(backend, ("cert", "c"), make)
    assert p.variant(backend, ("cert", "a"), make) is a
    assert p.variant(backend, ("cert", "c"), make) is c
    assert p.variant(backend, ("cert", "b"), make) is not b  # b was dropped, a new one made
    # now b (new) and c are kept, a was the least recently used: dropped, its idle closed
    assert idle_transport.closed and a.max_idle == 0 and not a.idle
    assert len([k for k in p.stats() if "(cert" in k]) == 2
    assert p.get(backend) is plain  # ordinary pools are never dropped


def test_connect_failures_do_not_name_the_backend_address() -> None:
    status, message = connect_failure(
        ConnectionRefusedError(111, "Connect call failed ('10.1.2.3', 8080)"))
    assert status == 502 and message == "Backend unavailable: Connection refused"
    assert connect_failure(OSError())[1] == "Backend unavailable: OSError"
    assert connect_failure(TimeoutError())[0] == 504

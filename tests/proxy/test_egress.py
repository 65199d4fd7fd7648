"""egress.route: which pool, head backend and extra headers a policy request uses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubegate.compile.backends import parse_backend
from kubegate.policies.errors import BackendError
from kubegate.policies.state import ProxyRoute
from kubegate.proxy.egress import ConnectAnswer, TunnelPool, route
from kubegate.proxy.forward import request_head
from kubegate.proxy.upstream import Pools
from kubegate.services.certificates import HeldCertificate
from tests.policies.x509_factory import Pki


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

"""forward-request follow-redirects: APIM's (.NET HttpClient) rules, and kubegate's
safety defaults (no loopback/link-local targets, headers dropped across origins, one
deadline for the chain, egress reused, no internal details to the client)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from kubegate.policies.builtin import forward_request
from kubegate.policies.builtin._backend_url import origin, resolve
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context import ApiInfo, Response
from kubegate.policies.state import ProxyRoute

from .helpers import FakeBackend, doc, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

REAL_ADDRESSES = forward_request.addresses
DNS = {
    "backend": ["10.1.0.5"],
    "elsewhere.example": ["203.0.113.7"],
    "other.example": ["203.0.113.8"],
    "secure.example": ["203.0.113.9"],
    "plain.example": ["203.0.113.10"],
    "localhost": ["127.0.0.1", "::1"],
    "metadata.internal": ["169.254.169.254"],
    "sneaky.example": ["203.0.113.11", "fe80::1"],  # one bad address is enough
}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def addresses(host: str) -> list[str]:
        if host in DNS:
            return DNS[host]
        if host[:1].isdigit() or ":" in host:  # an IP literal
            return [host]
        raise OSError(-2, "Name or service not known")
    monkeypatch.setattr(forward_request, "addresses", addresses)


def api_ctx(service_url: str = "http://backend:8080/v1", **kw: Any) -> Any:
    ctx = make_ctx(**kw)
    ctx.Api = ApiInfo(Id="orders", Name="orders", Path="api", ServiceUrl=service_url)
    return ctx


class Client:
    """The send-request HTTP client: scripted answers by URL."""

    def __init__(self, answers: dict[str, tuple[int, list[tuple[str, str]], bytes]],
                 delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.calls: list[tuple[str, str, dict[str, str], bytes]] = []
        self.timeouts: list[float] = []
        self.egress: list[dict[str, Any]] = []

    async def __call__(self, method: str, url: str, headers: list[tuple[str, str]],
                       body: bytes, timeout: float, **egress: Any
                       ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        self.calls.append((method, url, dict(headers), body))
        self.timeouts.append(timeout)
        self.egress.append(egress)
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.answers[url]
        if isinstance(answer, BaseException):
            raise answer
        status, hdrs, data = answer
        return status, "", hdrs, data


FOLLOW = doc(backend='<forward-request follow-redirects="true" />')


def env(client: Client) -> CompileEnv:
    return CompileEnv(services={"http": client})


def redirecting(status: int, location: str) -> FakeBackend:
    return FakeBackend(status=status, headers=[("Location", location)], body=b"moved")


# -- APIM's rules ----------------------------------------------------------------------------
async def test_relative_redirect_is_followed_against_the_backend_url() -> None:
    client = Client({"http://backend:8080/v1/new?x=1": (200, [], b"final")})
    ctx = api_ctx(path="/api/orders/1", headers=[("Authorization", "Bearer t")])
    ctx, _ = await run(FOLLOW, ctx, redirecting(302, "/v1/new?x=1"), env(client))
    assert ctx.Response.StatusCode == 200 and ctx.Response.Body.content == b"final"
    method, _, headers, _ = client.calls[0]
    assert method == "GET" and "Authorization" not in headers


@pytest.mark.parametrize("status, method, expect_method, expect_body", [
    (303, "PUT", "GET", b""), (302, "POST", "GET", b""), (307, "POST", "POST", b"data"),
    (308, "PUT", "PUT", b"data"), (301, "PUT", "PUT", b"data"),
])
async def test_redirect_method_rules(status: int, method: str, expect_method: str,
                                     expect_body: bytes) -> None:
    client = Client({"https://elsewhere.example/x": (201, [], b"ok")})
    ctx = api_ctx(method=method, body=b"data")
    ctx, _ = await run(FOLLOW, ctx, redirecting(status, "https://elsewhere.example/x"),
                       env(client))
    assert ctx.Response.StatusCode == 201
    assert client.calls[0][0] == expect_method and client.calls[0][3] == expect_body


async def test_redirect_chain_is_bounded() -> None:
    client = Client({"http://backend:8080/loop": (302, [("Location", "/loop")], b"")})
    ctx, _ = await run(FOLLOW, api_ctx(), redirecting(302, "/loop"), env(client))
    assert ctx.Response.StatusCode == 302 and len(client.calls) == 50


async def test_https_to_http_redirect_is_not_followed() -> None:
    client = Client({})
    ctx, _ = await run(FOLLOW, api_ctx("https://secure.example"),
                       redirecting(302, "http://plain.example/"), env(client))
    assert ctx.Response.StatusCode == 302 and not client.calls


async def test_without_follow_redirects_the_redirect_is_returned() -> None:
    ctx, _ = await run(doc(backend="<forward-request />"), api_ctx(), redirecting(302, "/x"))
    assert ctx.Response.StatusCode == 302


async def test_follow_redirects_keeps_the_response_buffered() -> None:
    """The data plane streams only when ctx.send is its own callback: the first request
    must go out with ctx.send wrapped."""
    seen: list[bool] = []
    inner = FakeBackend()

    async def send(ctx: Any) -> None:
        seen.append(ctx.send is send)
        await inner(ctx)
        ctx.Response = Response(200, "OK", [], b"x")
    ctx = api_ctx()
    await pipeline(FOLLOW, env(Client({}))).execute(ctx, send)
    assert seen == [False]


# -- targets that are not followed -------------------------------------------------------------
@pytest.mark.parametrize("location", [
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:2379/v2/keys",
    "http://[::1]/admin", "http://localhost:9000/", "http://0.0.0.0/", "http://0.1.2.3/",
    "http://[fe80::1%25eth0]/", "http://[::ffff:127.0.0.1]/", "http://metadata.internal/",
    "http://sneaky.example/", "http://unknown.invalid/", "k8s://kube-system/api:443/",
    "file:///etc/passwd", "gopher://elsewhere.example/",
])
async def test_internal_targets_are_not_followed(location: str) -> None:
    client = Client({})
    ctx = api_ctx(tracing=True)
    ctx.trace = []
    ctx, _ = await run(FOLLOW, ctx, redirecting(302, location), env(client))
    assert ctx.Response.StatusCode == 302 and not client.calls
    assert any("not following the redirect" in line for line in ctx.trace)


async def test_a_loopback_backend_may_redirect_to_loopback_only() -> None:
    client = Client({"http://localhost:9000/x": (302, [("Location", "http://169.254.1.1/")],
                                                 b"")})
    ctx, _ = await run(FOLLOW, api_ctx("http://127.0.0.1:8080"),
                       redirecting(302, "http://localhost:9000/x"), env(client))
    # loopback followed (the backend is loopback itself), link-local still refused
    assert [c[1] for c in client.calls] == ["http://localhost:9000/x"]
    assert ctx.Response.StatusCode == 302


def test_address_kinds() -> None:
    kind = forward_request.address_kind
    assert kind("127.8.0.1") == kind("::1") == kind("::ffff:127.0.0.1") == "loopback"
    assert kind("169.254.169.254") == kind("fe80::1%eth0") == "link-local"
    assert kind("0.0.0.0") == kind("::") == "unspecified"
    assert kind("10.0.0.1") is None and kind("2001:db8::1") is None and kind("name") is None


async def test_real_resolution_of_names() -> None:
    assert await REAL_ADDRESSES("10.0.0.1") == ["10.0.0.1"]
    assert {forward_request.address_kind(a) for a in await REAL_ADDRESSES("localhost")} == {
        "loopback"}
    with pytest.raises(OSError):
        await REAL_ADDRESSES("no-such-host.invalid")


# -- headers across origins ------------------------------------------------------------------
SECRET_HEADERS = [("Authorization", "Bearer t"), ("Cookie", "s=1"),
                  ("Ocp-Apim-Subscription-Key", "k3y"), ("Accept", "application/json"),
                  ("User-Agent", "ua/1"), ("Content-Type", "text/plain")]
ADD_SECRET = '<set-header name="X-Backend-Secret" exists-action="override"><value>s3cr3t</value></set-header>'


async def test_another_origin_gets_only_safe_headers() -> None:
    client = Client({
        "http://elsewhere.example/a": (307, [("Location", "http://backend:8080/v1/back")], b""),
        "http://backend:8080/v1/back": (200, [], b"ok"),
    })
    xml = doc(inbound=ADD_SECRET, backend='<forward-request follow-redirects="true" />')
    ctx = api_ctx(method="POST", headers=SECRET_HEADERS, body=b"data")
    ctx, _ = await run(xml, ctx, redirecting(307, "http://elsewhere.example/a"), env(client))
    assert ctx.Response.StatusCode == 200
    for _, _, headers, _ in client.calls:  # back on the backend's origin: still safe only
        assert headers == {"Accept": "application/json", "User-Agent": "ua/1",
                           "Content-Type": "text/plain"}


async def test_same_origin_keeps_headers_but_authorization() -> None:
    client = Client({"http://backend:8080/v1/b": (200, [], b"ok")})
    xml = doc(inbound=ADD_SECRET, backend='<forward-request follow-redirects="true" />')
    ctx, _ = await run(xml, api_ctx(headers=SECRET_HEADERS), redirecting(302, "/v1/b"),
                       env(client))
    headers = client.calls[0][2]
    assert "Authorization" not in headers
    assert headers["Cookie"] == "s=1" and headers["Ocp-Apim-Subscription-Key"] == "k3y"
    assert headers["X-Backend-Secret"] == "s3cr3t"


# -- one deadline --------------------------------------------------------------------------------
async def test_one_deadline_for_the_whole_chain() -> None:
    client = Client({"http://backend:8080/loop": (302, [("Location", "/loop")], b"")},
                    delay=0.15)
    xml = doc(backend='<forward-request follow-redirects="true" timeout-ms="500" />')
    started = time.monotonic()
    ctx, _ = await run(xml, api_ctx(), redirecting(302, "/loop"), env(client))
    assert time.monotonic() - started < 1.5
    assert ctx.Response.StatusCode == 504 and len(client.calls) <= 4
    assert all(t <= 0.5 for t in client.timeouts)
    assert client.timeouts == sorted(client.timeouts, reverse=True)  # what is left


# -- egress ----------------------------------------------------------------------------------------
async def test_hops_reuse_the_egress_route() -> None:
    client = Client({
        "https://backend:8443/v1/b": (302, [("Location", "https://other.example/c")], b""),
        "https://other.example/c": (200, [], b"ok"),
    })
    ctx = api_ctx("https://backend:8443/v1")
    certificate, proxy = object(), ProxyRoute("10.0.0.5", 3128, b"Basic YTpi")
    ctx.backend_certificate, ctx.backend_proxy = certificate, proxy
    ctx, _ = await run(FOLLOW, ctx, redirecting(302, "/v1/b"), env(client))
    assert ctx.Response.StatusCode == 200
    assert client.egress[0] == {"certificate": certificate, "proxy": proxy}  # same origin
    assert client.egress[1] == {"proxy": proxy}  # the certificate is not shown elsewhere


# -- Service backends ------------------------------------------------------------------------------
def test_resolve_keeps_the_service() -> None:
    base = "k8s://shop/orders:8080/api/items"
    assert resolve(base, "/api/new") == "k8s://shop/orders:8080/api/new"
    assert resolve(base, "new?x=1") == "k8s://shop/orders:8080/api/new?x=1"
    assert resolve("nodeport://shop/orders:http", "a") == "nodeport://shop/orders:http/a"
    assert resolve(base, "//elsewhere.example/x") == "http://elsewhere.example/x"
    assert resolve(base, "https://a.example/") == "https://a.example/"
    assert origin("k8s://shop/orders:8080/a") == "k8s://shop/orders:8080"
    assert origin("k8s://shop/orders:8080/a") != origin("k8s://shop/payments:8080/a")


async def test_relative_redirect_from_a_service_backend() -> None:
    client = Client({"k8s://shop/orders:8080/v1/new": (200, [], b"ok")})
    ctx, _ = await run(FOLLOW, api_ctx("k8s://shop/orders:8080/v1", headers=[("Cookie", "c")]),
                       redirecting(302, "/v1/new"), env(client))
    assert ctx.Response.StatusCode == 200
    assert client.calls[0][1] == "k8s://shop/orders:8080/v1/new"
    assert client.calls[0][2] == {"Cookie": "c"}  # the same origin


# -- errors ------------------------------------------------------------------------------------------
async def test_failure_details_are_logged_not_returned(caplog: pytest.LogCaptureFixture) -> None:
    client = Client({"https://elsewhere.example/x": ConnectionRefusedError(  # type: ignore[dict-item]
        111, "Connect call failed ('203.0.113.7', 443)")})
    with caplog.at_level(logging.WARNING):
        ctx, _ = await run(FOLLOW, api_ctx(), redirecting(302, "https://elsewhere.example/x"),
                           env(client))
    assert ctx.Response.StatusCode == 502
    body = (ctx.Response.Body.content or b"").decode()
    assert "203.0.113.7" not in body and "Connect call" not in body
    assert "203.0.113.7" in caplog.text

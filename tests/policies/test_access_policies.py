"""check-header, ip-filter, cors, limit-concurrency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kubegate.model.errors import ConfigError

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

CHECK = doc(inbound='<check-header name="X-Env" failed-check-httpcode="403" '
                    'failed-check-error-message="bad env" ignore-case="{}">'
                    '<value>Prod</value><value>Test</value></check-header>')


@pytest.mark.parametrize(("headers", "ignore", "status", "reason"), [
    ([], "true", 403, "HeaderNotFound"),
    ([("X-Env", "dev")], "true", 403, "HeaderValueNotAllowed"),
    ([("X-Env", "prod")], "false", 403, "HeaderValueNotAllowed"),
    ([("X-Env", "prod")], "true", 200, None),
    ([("x-env", "Test")], "false", 200, None)])
async def test_check_header(headers: list[tuple[str, str]], ignore: str, status: int,
                            reason: str | None) -> None:
    ctx, backend = await run(CHECK.format(ignore), ctx=make_ctx(headers=headers))
    assert ctx.Response.StatusCode == status
    if reason:
        assert backend.calls == [] and err(ctx).Reason == reason
        assert json.loads(ctx.Response.Body.content or b"")["message"] == "bad env"


def test_check_header_requires_attributes() -> None:
    with pytest.raises(ConfigError) as info:
        pipeline(doc(inbound='<check-header name="a" />'))
    assert str(info.value).count("missing required attribute") == 3


IPS = doc(inbound='<ip-filter action="{}"><address>10.0.0.1</address>'
                  '<address-range from="192.168.1.0" to="192.168.1.255" />'
                  '<address>2001:db8::1</address></ip-filter>')


@pytest.mark.parametrize(("ip", "listed"), [
    ("10.0.0.1", True), ("10.0.0.2", False), ("192.168.1.77", True), ("192.168.2.1", False),
    ("2001:db8::1", True), ("2001:db8::2", False), ("::ffff:10.0.0.1", True), ("junk", False)])
async def test_ip_filter_allow_and_forbid(ip: str, listed: bool) -> None:
    ctx, _ = await run(IPS.format("allow"), ctx=make_ctx(ip=ip))
    assert (ctx.Response.StatusCode == 200) == listed
    ctx, _ = await run(IPS.format("forbid"), ctx=make_ctx(ip=ip))
    assert (ctx.Response.StatusCode == 403) == listed
    if listed:
        assert err(ctx).Reason == "CallerIpNotAllowed"


def test_ip_filter_bad_entries() -> None:
    with pytest.raises(ConfigError) as info:
        pipeline(doc(inbound='<ip-filter action="allow"><address>nope</address>'
                             '<address-range from="10.0.0.9" to="10.0.0.1" /></ip-filter>'))
    assert "not an IP address" in str(info.value) and "from <= to" in str(info.value)


CORS = doc(inbound='<cors allow-credentials="true"><allowed-origins>'
                   '<origin>https://app.example.com</origin></allowed-origins>'
                   '<allowed-methods preflight-result-max-age="300"><method>GET</method>'
                   '<method>PUT</method></allowed-methods>'
                   '<allowed-headers><header>content-type</header><header>x-key</header>'
                   '</allowed-headers><expose-headers><header>x-total</header></expose-headers>'
                   '</cors>')


async def test_cors_preflight_answered_without_backend() -> None:
    ctx = make_ctx("OPTIONS", headers=[("Origin", "https://app.example.com"),
                                       ("Access-Control-Request-Method", "PUT"),
                                       ("Access-Control-Request-Headers", "X-Key")])
    ctx, backend = await run(CORS, ctx=ctx)
    assert backend.calls == [] and ctx.Response.StatusCode == 200
    h = ctx.Response.Headers
    assert h.get("Access-Control-Allow-Origin") == "https://app.example.com"
    assert h.get("Access-Control-Allow-Credentials") == "true"
    assert h.get("Access-Control-Allow-Methods") == "GET, PUT"
    assert h.get("Access-Control-Allow-Headers") == "content-type, x-key"
    assert h.get("Access-Control-Max-Age") == "300" and h.get("Vary") == "Origin"


async def test_cors_unmatched_preflight_terminated_empty() -> None:
    ctx = make_ctx("OPTIONS", headers=[("Origin", "https://evil.example"),
                                       ("Access-Control-Request-Method", "PUT")])
    ctx, backend = await run(CORS, ctx=ctx)
    assert backend.calls == [] and "Access-Control-Allow-Origin" not in ctx.Response.Headers
    ctx = make_ctx("OPTIONS", headers=[("Origin", "https://app.example.com"),
                                       ("Access-Control-Request-Method", "DELETE")])
    ctx, backend = await run(CORS, ctx=ctx)
    assert backend.calls == [] and "Access-Control-Allow-Origin" not in ctx.Response.Headers


async def test_cors_actual_request_gets_headers_on_final_response() -> None:
    ctx = make_ctx(headers=[("Origin", "https://app.example.com")])
    ctx, backend = await run(CORS, ctx=ctx, backend=FakeBackend(headers=[("Vary", "Accept")]))
    h = ctx.Response.Headers
    assert len(backend.calls) == 1
    assert h.get("Access-Control-Allow-Origin") == "https://app.example.com"
    assert h.get("Access-Control-Expose-Headers") == "x-total"
    assert h.get_all("Vary") == ["Accept", "Origin"]
    ctx = make_ctx(headers=[("Origin", "https://evil.example")])
    ctx, backend = await run(CORS, ctx=ctx)
    assert backend.calls == [] and "Access-Control-Allow-Origin" not in ctx.Response.Headers
    ctx, backend = await run(CORS, ctx=make_ctx())
    assert len(backend.calls) == 1 and "Access-Control-Allow-Origin" not in ctx.Response.Headers


async def test_cors_wildcard_origin() -> None:
    xml = doc(inbound='<cors terminate-unmatched-request="false"><allowed-origins><origin>*'
                      '</origin></allowed-origins><allowed-methods><method>*</method>'
                      '</allowed-methods><allowed-headers><header>*</header></allowed-headers>'
                      '</cors>')
    ctx = make_ctx("OPTIONS", headers=[("Origin", "https://a"),
                                       ("Access-Control-Request-Method", "PATCH"),
                                       ("Access-Control-Request-Headers", "X-Y")])
    ctx, _ = await run(xml, ctx=ctx)
    h = ctx.Response.Headers
    assert h.get("Access-Control-Allow-Origin") == "*"
    assert h.get("Access-Control-Allow-Methods") == "PATCH"
    assert h.get("Access-Control-Allow-Headers") == "x-y" and "Vary" not in h
    with pytest.raises(ConfigError, match="cannot be used with the origin"):
        pipeline(xml.replace("<cors ", '<cors allow-credentials="true" '))


async def test_limit_concurrency_rejects_over_limit_and_releases() -> None:
    gate = asyncio.Event()
    started = asyncio.Event()

    async def slow(ctx: Any) -> None:
        started.set()
        await gate.wait()
        await FakeBackend()(ctx)
    p = pipeline(doc(backend='<limit-concurrency key="k" max-count="1"><forward-request />'
                             '</limit-concurrency>'))
    first = make_ctx()
    task = asyncio.create_task(p.execute(first, slow))
    await started.wait()
    second = make_ctx()
    await p.execute(second, FakeBackend())
    assert second.Response.StatusCode == 429
    assert err(second).Reason == "ConcurrencyLimitExceeded"
    gate.set()
    await task
    assert first.Response.StatusCode == 200
    third = make_ctx()
    await p.execute(third, FakeBackend())
    assert third.Response.StatusCode == 200


async def test_limit_concurrency_waits_for_a_slot() -> None:
    gate = asyncio.Event()

    async def slow(ctx: Any) -> None:
        await gate.wait()
        await FakeBackend()(ctx)
    p = pipeline(doc(backend='<limit-concurrency key="k" max-count="1" max-wait="30">'
                             '<forward-request /></limit-concurrency>'))
    first, second = make_ctx(), make_ctx()
    t1 = asyncio.create_task(p.execute(first, slow))
    await asyncio.sleep(0)
    t2 = asyncio.create_task(p.execute(second, slow))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(t1, t2)
    assert first.Response.StatusCode == 200 and second.Response.StatusCode == 200

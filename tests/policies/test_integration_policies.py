"""validate-jwt, authentication-managed-identity, authentication-basic, wait,
send-one-way-request, emit-metric, jsonp, cache-lookup/cache-store."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from kubegate.model.errors import ConfigError
from kubegate.policies.builtin.cache_value import MemoryValueCache
from kubegate.policies.compiler import CompileEnv

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

SECRET = base64.b64encode(b"k" * 32).decode()
NOW = 1_700_000_000
JWT_POLICY = doc(inbound=(
    '<validate-jwt header-name="Authorization" require-scheme="Bearer" '
    'output-token-variable-name="jwt"><issuer-signing-keys><key>' + SECRET + '</key>'
    '</issuer-signing-keys><audiences><audience>orders</audience></audiences>'
    '</validate-jwt><set-header name="X-Sub" exists-action="override">'
    '<value>@(((Jwt)context.Variables["jwt"]).Subject)</value></set-header>'))


def token(**claims: Any) -> str:
    key = OctKey.import_key(b"k" * 32)
    payload = {"sub": "alice", "aud": "orders", "exp": NOW + 60, **claims}
    return jwt.encode({"alg": "HS256"}, payload, key)


async def test_validate_jwt_accepts_and_exposes_token() -> None:
    ctx = make_ctx(headers=[("Authorization", "Bearer " + token())])
    ctx, backend = await run(JWT_POLICY, ctx=ctx)
    assert ctx.Response.StatusCode == 200
    assert ("X-Sub", "alice") in backend.calls[0]["headers"]


@pytest.mark.parametrize(("headers", "reason"), [
    ([], "TokenNotPresent"),
    ([("Authorization", "Bearer " + token(exp=NOW - 3600))], "TokenExpired"),
    ([("Authorization", "Bearer " + token(aud="other"))], "TokenAudienceNotAllowed")])
async def test_validate_jwt_rejects(headers: list[tuple[str, str]], reason: str) -> None:
    ctx, backend = await run(JWT_POLICY, ctx=make_ctx(headers=headers))
    assert backend.calls == [] and ctx.Response.StatusCode == 401
    assert err(ctx).Reason == reason and err(ctx).Source == "validate-jwt"
    assert json.loads(ctx.Response.Body.content or b"")["statusCode"] == 401


def test_validate_jwt_config_errors_name_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        pipeline(doc(inbound='<validate-jwt header-name="Authorization" bogus="1" />'))
    assert "test.xml" in str(info.value) and "bogus" in str(info.value)


async def test_managed_identity_uses_provider() -> None:
    async def provider(resource: str, client_id: str | None) -> str:
        return f"tok-{resource}-{client_id}"
    xml = doc(inbound='<authentication-managed-identity resource="https://storage" '
                      'client-id="c1" />')
    _, backend = await run(xml, env=CompileEnv(services={"identity": provider}))
    assert ("Authorization", "Bearer tok-https://storage-c1") in backend.calls[0]["headers"]
    ctx, backend = await run(xml)
    assert backend.calls == [] and err(ctx).Reason == "ManagedIdentityUnavailable"
    ctx, backend = await run(xml.replace("/>", 'ignore-error="true" />', 1))
    assert len(backend.calls) == 1


async def test_authentication_basic() -> None:
    _, backend = await run(doc(inbound='<authentication-basic username="u" password="p" />'))
    assert ("Authorization", "Basic dTpw") in backend.calls[0]["headers"]


async def test_wait_all_runs_send_requests_concurrently() -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def client(method: str, url: str, *rest: Any) -> Any:
        order.append(url)
        if url.endswith("a"):
            await release.wait()
        else:
            release.set()
        return 200, "OK", [], url.encode()
    xml = doc(inbound='<wait for="all">'
                      '<send-request response-variable-name="a"><set-url>http://x/a</set-url>'
                      '</send-request><send-request response-variable-name="b">'
                      '<set-url>http://x/b</set-url></send-request></wait>')
    ctx, _ = await run(xml, env=CompileEnv(services={"http": client}))
    assert order == ["http://x/a", "http://x/b"]
    assert ctx.Variables["a"].Body.content == b"http://x/a"
    assert ctx.Variables["b"].StatusCode == 200


async def test_send_one_way_request_does_not_wait() -> None:
    calls: list[str] = []

    async def client(method: str, url: str, *rest: Any) -> Any:
        calls.append(url)
        return 500, "x", [], b""
    xml = doc(inbound='<send-one-way-request mode="new"><set-url>http://log</set-url>'
                      '</send-one-way-request>')
    ctx, backend = await run(xml, env=CompileEnv(services={"http": client}))
    assert calls == [] and len(backend.calls) == 1     # not awaited by the pipeline
    for _ in range(5):
        await asyncio.sleep(0)
    assert calls == ["http://log"] and len(backend.calls) == 1


async def test_emit_metric_and_jsonp() -> None:
    xml = doc(inbound='<emit-metric name="calls" value="2" namespace="shop">'
                      '<dimension name="api" value="orders" /></emit-metric>',
              outbound='<jsonp callback-parameter-name="cb" />')
    ctx, _ = await run(xml, ctx=make_ctx(query="cb=handle"), backend=FakeBackend(body=b"{}"))
    assert ctx.trace == ["metric shop/calls 2 api=orders"]
    assert ctx.Response.Body.content == b"handle({})"
    ctx, _ = await run(xml, ctx=make_ctx(query="cb=alert(1)//"), backend=FakeBackend(body=b"{}"))
    assert ctx.Response.Body.content == b"{}"


async def test_response_cache_hit_skips_backend() -> None:
    now = [0.0]
    env = CompileEnv(services={"cache": MemoryValueCache(clock=lambda: now[0])})
    xml = doc(inbound='<cache-lookup vary-by-developer="false" vary-by-developer-groups="false">'
                      '<vary-by-query-parameter>lang</vary-by-query-parameter></cache-lookup>',
              outbound='<cache-store duration="60" />')
    p = pipeline(xml, env)
    backend = FakeBackend(body=b"v1")
    for query in ("lang=en", "lang=en", "lang=fr"):
        ctx = make_ctx(query=query)
        await p.execute(ctx, backend)
        assert ctx.Response.Body.content == b"v1"
    assert len(backend.calls) == 2
    now[0] = 61
    await p.execute(make_ctx(query="lang=en"), backend)
    assert len(backend.calls) == 3
    await p.execute(make_ctx("POST", query="lang=en"), backend)
    assert len(backend.calls) == 4

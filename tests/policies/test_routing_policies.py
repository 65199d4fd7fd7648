"""choose, rewrite-uri, set-backend-service, forward-request, retry, mock-response,
send-request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.builtin.retry import wait_seconds
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context import Response
from kubegate.policies.errors import BackendError

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

CHOOSE = doc(inbound='<choose>'
                     '<when condition="@(context.Request.Method == &quot;POST&quot;)">'
                     '<set-variable name="b" value="post" /></when>'
                     '<when condition="@(context.Request.Headers.ContainsKey(&quot;X&quot;))">'
                     '<set-variable name="b" value="x" /></when>'
                     '<otherwise><set-variable name="b" value="other" /></otherwise></choose>')


@pytest.mark.parametrize(("method", "headers", "branch"), [
    ("POST", [("X", "1")], "post"), ("GET", [("X", "1")], "x"), ("GET", [], "other")])
async def test_choose_first_true_branch(method: str, headers: list[tuple[str, str]],
                                        branch: str) -> None:
    ctx, _ = await run(CHOOSE, ctx=make_ctx(method, headers=headers))
    assert ctx.Variables["b"] == branch


async def test_choose_non_boolean_condition_is_a_runtime_error() -> None:
    xml = doc(inbound='<choose><when condition="@(context.Request.Method)">'
                      '<set-variable name="b" value="1" /></when></choose>')
    ctx, _ = await run(xml)
    assert err(ctx).Reason == "ExpressionValueEvaluationFailure"
    assert err(ctx).Path == "inbound/choose[1]"


async def test_choose_with_async_branch_forwards() -> None:
    xml = doc(inbound='<choose><when condition="@(true)"><return-response>'
                      '<set-status code="418" /></return-response></when></choose>',
              backend='<choose><when condition="@(true)"><forward-request /></when></choose>')
    ctx, backend = await run(xml)
    assert ctx.Response.StatusCode == 418 and backend.calls == []
    xml = doc(backend='<choose><when condition="@(true)"><forward-request timeout="5" />'
                      '</when></choose>')
    _, backend = await run(xml)
    assert len(backend.calls) == 1


async def test_rewrite_uri_template_and_unmatched_params() -> None:
    xml = doc(inbound='<rewrite-uri template="/v2/items/{id}?view={view}&amp;fixed=1" />')
    ctx = make_ctx(path="/api/orders/7", query="view=full&extra=a&id=7",
                   matched={"id": "7 8", "view": "full"})
    _, backend = await run(xml, ctx=ctx)
    assert backend.calls[0]["path"] == "/api/v2/items/7%208"
    assert backend.calls[0]["query"] == "?view=full&fixed=1&extra=a"
    xml = doc(inbound='<rewrite-uri template="/v2/items/{id}" copy-unmatched-params="false" />')
    _, backend = await run(xml, ctx=make_ctx(query="extra=a", matched={"id": "1"}))
    assert backend.calls[0]["query"] == "" and backend.calls[0]["path"] == "/api/v2/items/1"


async def test_rewrite_uri_expression_template() -> None:
    xml = doc(inbound='<rewrite-uri template="@(&quot;/x/&quot; + context.Request.Method)" />')
    _, backend = await run(xml, ctx=make_ctx(api_path=None))
    assert backend.calls[0]["path"] == "/x/GET"


async def test_set_backend_service_url_and_named_backend() -> None:
    _, backend = await run(doc(inbound='<set-backend-service base-url="http://svc:8080/v1" />'))
    assert backend.calls[0]["backend_url"] == "http://svc:8080/v1"
    env = CompileEnv(backends={"orders": "k8s://shop/orders:80"})
    _, backend = await run(doc(inbound='<set-backend-service backend-id="orders" />'), env=env)
    assert backend.calls[0]["backend_url"] == "k8s://shop/orders:80"
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        pipeline(doc(inbound='<set-backend-service backend-id="nope" />'), env)
    with pytest.raises(ConfigError, match="exactly one of"):
        pipeline(doc(inbound='<set-backend-service />'))
    with pytest.raises(ConfigError, match="absolute http"):
        pipeline(doc(inbound='<set-backend-service base-url="svc" />'))


async def test_forward_request_timeout_gives_504() -> None:
    async def never(ctx: Any) -> None:
        await asyncio.Event().wait()
    ctx = make_ctx()
    await pipeline(doc(backend='<forward-request timeout="0" />')).execute(ctx, never)
    assert ctx.Response.StatusCode == 504 and err(ctx).Reason == "Timeout"


async def test_forward_request_options() -> None:
    assert pipeline(doc(backend='<forward-request follow-redirects="true" />')
                    ).needs_request_body  # 307/308 repeat the body (test_apim_extras.py)
    assert pipeline(doc(backend='<forward-request buffer-request-body="true" />')
                    ).needs_request_body
    ctx, _ = await run(doc(backend='<forward-request fail-on-error-status-code="true" />'),
                       backend=FakeBackend(404))
    assert ctx.LastError is not None and ctx.Response.StatusCode == 404


def test_retry_waits() -> None:
    assert [wait_seconds(n, 2, None, None, False) for n in (1, 2)] == [2, 2]
    assert [wait_seconds(n, 1, 2, None, False) for n in (1, 2, 3)] == [1, 3, 5]
    assert [wait_seconds(n, 1, 2, 6, True) for n in (1, 2, 3, 4)] == [0, 3, 6, 6]


async def test_retry_reruns_children_until_condition_false() -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
    xml = doc(backend='<retry condition="@(context.Response.StatusCode &gt;= 500)" count="3" '
                      'interval="1" delta="1"><forward-request /></retry>')
    env = CompileEnv(sleep=sleep)
    ctx, backend = await run(xml, backend=FakeBackend(script=[503, 500, 200]), env=env)
    assert len(backend.calls) == 3 and ctx.Response.StatusCode == 200 and slept == [1, 2]
    ctx, backend = await run(xml, backend=FakeBackend(script=[503] * 10), env=env)
    assert len(backend.calls) == 4 and ctx.Response.StatusCode == 503
    assert pipeline(xml, env).needs_request_body


async def test_mock_response_uses_examples() -> None:
    env = CompileEnv(examples={200: {"application/json": b'{"id": 1}'}})
    xml = doc(inbound='<mock-response status-code="200" content-type="application/json" />',
              outbound='<set-header name="X-Out"><value>1</value></set-header>')
    ctx, backend = await run(xml, env=env)
    assert backend.calls == [] and ctx.Response.Body.content == b'{"id": 1}'
    assert ctx.Response.Headers.get("Content-Type") == "application/json"
    assert "X-Out" not in ctx.Response.Headers
    ctx, _ = await run(doc(inbound='<mock-response status-code="404" />'))
    assert ctx.Response.StatusCode == 404 and ctx.Response.Body.content == b""


async def test_send_request_stores_response_for_return_response() -> None:
    seen: list[tuple[str, str, list[tuple[str, str]], bytes]] = []

    async def client(method: str, url: str, headers: list[tuple[str, str]], body: bytes,
                     timeout: float) -> tuple[int, str, list[tuple[str, str]], bytes]:
        seen.append((method, url, headers, body))
        return 201, "Created", [("X-Up", "1")], b'{"token": "t"}'
    xml = doc(inbound='<send-request mode="new" response-variable-name="r" timeout="10">'
                      '<set-url>https://auth/token</set-url><set-method>POST</set-method>'
                      '<set-header name="A" exists-action="override"><value>b</value></set-header>'
                      '<set-body>grant</set-body></send-request>'
                      '<set-variable name="t" value="@((string)((IResponse)context.Variables'
                      '[&quot;r&quot;]).Body.As&lt;JObject&gt;()[&quot;token&quot;])" />'
                      '<return-response response-variable-name="r" />')
    ctx, backend = await run(xml, env=CompileEnv(services={"http": client}))
    assert seen == [("POST", "https://auth/token", [("A", "b")], b"grant")]
    assert ctx.Variables["t"] == "t" and backend.calls == []
    assert ctx.Response.StatusCode == 201 and ctx.Response.Headers.get("X-Up") == "1"


async def test_send_request_failure_and_ignore_error() -> None:
    async def client(*args: Any) -> Any:
        raise BackendError(502, "down")
    base = ('<send-request response-variable-name="r" {}><set-url>http://x</set-url>'
            '</send-request>')
    env = CompileEnv(services={"http": client})
    ctx, _ = await run(doc(inbound=base.format('ignore-error="true"')), env=env)
    assert ctx.Variables["r"] is None and ctx.LastError is None
    ctx, _ = await run(doc(inbound=base.format("")), env=env)
    assert err(ctx).Source == "send-request" and ctx.Response.StatusCode == 502


async def test_return_response_from_variable_requires_a_response() -> None:
    xml = doc(inbound='<set-variable name="r" value="x" />'
                      '<return-response response-variable-name="r" />')
    ctx, _ = await run(xml)
    assert err(ctx).Source == "return-response"
    ctx = make_ctx()
    ctx.Variables["r"] = Response(204, "No Content")
    await pipeline(doc(inbound='<return-response response-variable-name="r" />')).execute(
        ctx, FakeBackend())
    assert ctx.Response.StatusCode == 204

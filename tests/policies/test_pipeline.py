"""Pipeline flow: sections in order, STOP, on-error with LastError, errors in on-error."""

from __future__ import annotations

import json

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.errors import BackendError

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)


async def test_sections_run_in_order_and_backend_gets_request() -> None:
    xml = doc(inbound='<set-header name="X-In" exists-action="override"><value>1</value></set-header>',
              outbound='<set-header name="X-Out" exists-action="override">'
                       '<value>@(context.Response.StatusCode.ToString())</value></set-header>')
    ctx, backend = await run(xml, backend=FakeBackend(201))
    assert backend.calls[0]["headers"] == [("X-In", "1")]
    assert ctx.Response.StatusCode == 201
    assert ctx.Response.Headers.get("X-Out") == "201"


async def test_missing_backend_section_forwards_by_default() -> None:
    ctx, backend = await run("<policies><inbound /></policies>")
    assert len(backend.calls) == 1 and ctx.Response.Body.content == b"backend"


async def test_return_response_skips_backend_and_outbound() -> None:
    xml = doc(inbound='<return-response><set-status code="403" reason="No" />'
                      '<set-header name="X-R" exists-action="override"><value>r</value></set-header>'
                      '<set-body>denied</set-body></return-response>',
              outbound='<set-header name="X-Out" exists-action="override"><value>o</value></set-header>')
    ctx, backend = await run(xml)
    assert backend.calls == []
    assert (ctx.Response.StatusCode, ctx.Response.StatusReason) == (403, "No")
    assert ctx.Response.Headers.get("X-R") == "r" and "X-Out" not in ctx.Response.Headers
    assert ctx.Response.Body.content == b"denied"


async def test_expression_error_goes_to_on_error_with_last_error() -> None:
    xml = doc(inbound='<set-variable name="v" value="@(context.Variables[&quot;missing&quot;])" />',
              on_error='<set-header name="X-Err" exists-action="override">'
                       '<value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" '
                       '+ context.LastError.Section + "|" + context.LastError.Path)</value>'
                       '</set-header>')
    ctx, backend = await run(xml)
    assert backend.calls == []
    e = err(ctx)
    assert (e.Source, e.Reason, e.Section) == (
        "set-variable", "ExpressionValueEvaluationFailure", "inbound")
    assert e.Path == "inbound/set-variable[1]" and e.Scope == "global"
    assert ctx.Response.StatusCode == 500
    assert ctx.Response.Headers.get("X-Err") == (
        "set-variable|ExpressionValueEvaluationFailure|inbound|inbound/set-variable[1]")


async def test_backend_error_sets_status_and_on_error_can_replace_response() -> None:
    xml = doc(on_error='<choose><when condition="@(context.LastError.Reason == &quot;Timeout&quot;)">'
                       '<return-response><set-status code="503" /></return-response></when></choose>')
    ctx, _ = await run(xml, backend=FakeBackend(script=[BackendError(504, "slow")]))
    assert ctx.LastError is not None and err(ctx).Source == "forward-request"
    assert ctx.Response.StatusCode == 503
    ctx, _ = await run(xml, backend=FakeBackend(script=[BackendError(502, "refused")]))
    assert err(ctx).Reason == "BackendConnectionFailure"
    assert ctx.Response.StatusCode == 502
    assert json.loads(ctx.Response.Body.content or b"") == {"statusCode": 502,
                                                            "message": "refused"}


async def test_error_in_on_error_gives_500_json() -> None:
    xml = doc(inbound='<check-header name="X-Key" failed-check-httpcode="401" '
                      'failed-check-error-message="no key" ignore-case="true" />',
              on_error='<set-variable name="v" value="@(context.Variables[&quot;nope&quot;])" />')
    ctx, _ = await run(xml)
    assert ctx.Response.StatusCode == 500
    assert json.loads(ctx.Response.Body.content or b"") == {
        "statusCode": 500, "message": "Internal server error"}


async def test_error_in_outbound_runs_on_error_once() -> None:
    xml = doc(outbound='<set-status code="@(int.Parse(&quot;x&quot;))" />',
              on_error='<set-header name="X-Count" exists-action="append"><value>1</value>'
                       '</set-header>')
    ctx, backend = await run(xml)
    assert len(backend.calls) == 1
    assert err(ctx).Section == "outbound"
    assert ctx.Response.Headers.get_all("X-Count") == ["1"]


def test_every_problem_is_collected_with_position() -> None:
    xml = ('<policies>\n<inbound>\n<frobnicate />\n<set-header name="a" exists-action="nope">'
           '<value>1</value></set-header>\n<set-variable name="x" value="@(foo.Bar)" />\n'
           '</inbound>\n<outbound><rewrite-uri template="/x" /></outbound>\n</policies>')
    with pytest.raises(ConfigError) as info:
        pipeline(xml)
    text = str(info.value)
    assert "test.xml:3:1: <frobnicate>: unsupported policy element" in text
    assert "<set-header> attribute 'exists-action'" in text and "test.xml:4:" in text
    assert "<set-variable>: expression" in text and "test.xml:5:" in text
    assert "<rewrite-uri>: not allowed in <outbound>" in text
    assert len(info.value.problems) == 4


def test_needs_body_flags() -> None:
    assert not pipeline(doc(inbound='<set-header name="a"><value>1</value></set-header>')
                        ).needs_request_body
    p = pipeline(doc(inbound='<set-variable name="b" value="@(context.Request.Body.As&lt;string&gt;())" />'))
    assert p.needs_request_body and not p.needs_response_body
    p = pipeline(doc(outbound='<find-and-replace from="a" to="b" />'))
    assert p.needs_response_body and not p.needs_request_body


def test_describe_is_plain_data() -> None:
    p = pipeline(doc(inbound='<choose><when condition="@(true)"><set-status code="201" />'
                             '</when></choose>'))
    d = p.describe()
    assert d["inbound"] == [{"path": "inbound/choose[1]", "line": 1, "async": False,
                             "detail": {"branches": 1}}]
    assert d["backend"][0]["path"] == "backend/forward-request (default)"
    json.dumps(d)


async def test_tracing_records_decisions() -> None:
    ctx = make_ctx(tracing=True)
    await run(doc(inbound='<set-variable name="a" value="1" />'), ctx=ctx)
    assert ctx.trace is not None
    assert any("set-variable a" in line for line in ctx.trace)
    assert any("forward-request: backend answered 200" in line for line in ctx.trace)


async def test_named_values_resolved_at_compile_time() -> None:
    env = CompileEnv(named_values={"who": "kube"})
    ctx, _ = await run(doc(inbound='<set-variable name="a" value="{{who}}" />'), env=env)
    assert ctx.Variables["a"] == "kube"
    with pytest.raises(ConfigError, match="unknown named value 'other'"):
        pipeline(doc(inbound='<set-variable name="a" value="{{other}}" />'), env)

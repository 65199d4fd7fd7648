"""set-header, set-query-parameter, set-method, set-status, set-variable, set-body,
find-and-replace, json-to-xml, xml-to-json, trace."""

from __future__ import annotations

import json

import pytest

from kubegate.model.errors import ConfigError

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)


@pytest.mark.parametrize(("action", "expected"), [
    ("override", ["new1", "new2"]), ("skip", ["old"]), ("append", ["old", "new1", "new2"]),
    ("delete", None)])
async def test_set_header_exists_actions(action: str, expected: list[str] | None) -> None:
    xml = doc(inbound=f'<set-header name="X-A" exists-action="{action}">'
                      + ("" if action == "delete" else "<value>new1</value><value>new2</value>")
                      + "</set-header>")
    _, backend = await run(xml, ctx=make_ctx(headers=[("x-a", "old")]))
    got = [v for n, v in backend.calls[0]["headers"] if n.lower() == "x-a"]
    assert got == (expected or [])


async def test_set_header_skip_when_absent_sets_and_null_value_removes() -> None:
    xml = doc(inbound='<set-header name="X-B" exists-action="skip"><value>b</value></set-header>'
                      '<set-header name="X-C"><value>@((string)null)</value></set-header>')
    _, backend = await run(xml, ctx=make_ctx(headers=[("X-C", "c")]))
    assert backend.calls[0]["headers"] == [("X-B", "b")]


async def test_set_header_outbound_targets_response() -> None:
    xml = doc(outbound='<set-header name="Server" exists-action="delete" />')
    ctx, _ = await run(xml, backend=FakeBackend(headers=[("Server", "kestrel")]))
    assert "Server" not in ctx.Response.Headers


def test_set_header_needs_value_and_name() -> None:
    with pytest.raises(ConfigError) as info:
        pipeline(doc(inbound='<set-header exists-action="override" />'))
    assert "missing required attribute 'name'" in str(info.value)
    assert "needs at least one <value>" in str(info.value)


async def test_set_query_parameter() -> None:
    xml = doc(inbound='<set-query-parameter name="api-version" exists-action="override">'
                      '<value>2024</value></set-query-parameter>'
                      '<set-query-parameter name="drop" exists-action="delete" />')
    _, backend = await run(xml, ctx=make_ctx(query="a=1&drop=x"))
    assert backend.calls[0]["query"] == "?a=1&api-version=2024"


async def test_set_method_status_variable() -> None:
    xml = doc(inbound='<set-method>@("p" + "ost")</set-method>'
                      '<set-variable name="n" value="@(context.Request.Method)" />',
              outbound='<set-status code="@(200 + 2)" reason="Accepted-ish" />')
    ctx, backend = await run(xml)
    assert backend.calls[0]["method"] == "POST" and ctx.Variables["n"] == "POST"
    assert (ctx.Response.StatusCode, ctx.Response.StatusReason) == (202, "Accepted-ish")


def test_set_status_rejects_non_numeric_code() -> None:
    with pytest.raises(ConfigError, match="expected a status code"):
        pipeline(doc(outbound='<set-status code="abc" />'))


async def test_set_body_request_and_response() -> None:
    xml = doc(inbound='<set-body>@{ var o = new JObject(); o["a"] = 1; return o.ToString(); }'
                      '</set-body>',
              outbound='<set-body>@(context.Response.Body.As&lt;string&gt;() + "!")</set-body>')
    p = pipeline(xml)
    assert p.needs_request_body and p.needs_response_body
    ctx, backend = await run(xml)
    assert json.loads(backend.calls[0]["body"]) == {"a": 1}
    assert ctx.Response.Body.content == b"backend!"


def test_set_body_unknown_template_kind_is_named() -> None:
    with pytest.raises(ConfigError) as info:  # liquid itself: tests/policies/test_liquid.py
        pipeline('<policies><inbound>\n  <set-body template="mustache">{{body.x}}</set-body>'
                 '</inbound></policies>')
    assert "test.xml:2:" in str(info.value) and "unknown template kind 'mustache'" in str(
        info.value)


async def test_find_and_replace_on_response() -> None:
    xml = doc(outbound='<find-and-replace from="back" to="front" />')
    ctx, _ = await run(xml, backend=FakeBackend(body=b"backend backend"))
    assert ctx.Response.Body.content == b"frontend frontend"


async def test_json_to_xml_and_xml_to_json() -> None:
    xml = doc(outbound='<json-to-xml apply="always" consider-accept-header="false" />')
    ctx, _ = await run(xml, backend=FakeBackend(body=b'{"a": 1, "b": [true, "x"], "c": {"d": null}}'))
    assert ctx.Response.Body.content == (
        b"<Document><a>1</a><b>true</b><b>x</b><c><d /></c></Document>")
    assert ctx.Response.Headers.get("Content-Type") == "application/xml"
    xml = doc(outbound='<xml-to-json kind="direct" apply="content-type-xml" />')
    ctx, _ = await run(xml, backend=FakeBackend(
        body=b'<r id="1"><i>a</i><i>b</i></r>', headers=[("Content-Type", "text/xml")]))
    assert json.loads(ctx.Response.Body.content or b"") == {"r": {"@id": "1", "i": ["a", "b"]}}
    # apply=content-type-xml leaves other content types alone
    ctx, _ = await run(xml, backend=FakeBackend(body=b"{}", headers=[
        ("Content-Type", "application/json")]))
    assert ctx.Response.Body.content == b"{}"


async def test_conversion_of_a_bad_body_goes_to_on_error() -> None:
    xml = doc(inbound='<json-to-xml apply="always" consider-accept-header="false" />')
    ctx, backend = await run(xml, ctx=make_ctx(body=b"{not json"))
    assert backend.calls == [] and ctx.Response.StatusCode == 400
    assert err(ctx).Reason == "BodyConversionFailure"


async def test_xml_to_json_refuses_entities() -> None:
    xml = doc(inbound='<xml-to-json kind="direct" apply="always" consider-accept-header="false" />')
    body = b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'
    ctx, backend = await run(xml, ctx=make_ctx(body=body))
    assert backend.calls == [] and ctx.Response.StatusCode >= 400


async def test_trace_policy_always_records() -> None:
    xml = doc(inbound='<trace source="orders" severity="information">'
                      '<message>@("hello " + context.Request.Method)</message>'
                      '<metadata name="k" value="v" /></trace>')
    ctx, _ = await run(xml)
    assert ctx.trace == ["trace [information] orders: hello GET k=v"]

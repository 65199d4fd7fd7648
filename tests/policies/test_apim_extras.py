"""set-header with a name expression, cross-domain, redirect-content-urls, xsl-transform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.context import ApiInfo

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)


# -- set-header name/exists-action expressions ---------------------------------------------
async def test_set_header_name_from_an_expression() -> None:
    xml = doc(inbound='<set-variable name="h" value="X-Dyn" />'
                      '<set-header name="@((string)context.Variables[&quot;h&quot;])" '
                      'exists-action="override"><value>v</value></set-header>'
                      '<set-header name="@(&quot;X-&quot; + &quot;Gone&quot;)" '
                      'exists-action="@(&quot;delete&quot;)" />')
    _, backend = await run(xml, make_ctx(headers=[("X-Gone", "1")]))
    headers = dict(backend.calls[0]["headers"])
    assert headers["X-Dyn"] == "v" and "X-Gone" not in headers


async def test_set_header_empty_name_expression_goes_to_on_error() -> None:
    xml = doc(inbound='<set-header name="@(&quot;&quot;)" exists-action="delete" />')
    ctx, backend = await run(xml)
    assert not backend.calls and ctx.Response.StatusCode == 500


# -- cross-domain ---------------------------------------------------------------------
CROSS = doc(inbound='<cross-domain><cross-domain-policy><allow-access-from domain="*" />'
                    '<allow-http-request-headers-from domain="*.example.com" headers="X-A, X-B" />'
                    '</cross-domain-policy></cross-domain>')


async def test_cross_domain_serves_crossdomain_xml() -> None:
    ctx, backend = await run(CROSS, make_ctx(path="/crossdomain.xml"))
    assert not backend.calls
    assert ctx.Response.Headers.get("Content-Type") == "text/x-cross-domain-policy"
    body = ctx.Response.Body.content or b""
    assert body.endswith(b'<cross-domain-policy><allow-access-from domain="*" />'
                         b'<allow-http-request-headers-from domain="*.example.com" '
                         b'headers="X-A, X-B" /></cross-domain-policy>')


async def test_cross_domain_serves_clientaccesspolicy_xml() -> None:
    ctx, _ = await run(CROSS, make_ctx(path="/clientaccesspolicy.xml"))
    body = ctx.Response.Body.content or b""
    assert b'<allow-from http-request-headers="X-A,X-B"><domain uri="*"/>' in body
    assert b'<domain uri="*.example.com"/>' in body and b"<access-policy>" in body


async def test_cross_domain_passes_other_requests() -> None:
    _, backend = await run(CROSS, make_ctx(path="/api/orders/1"))
    _, backend2 = await run(CROSS, make_ctx(method="POST", path="/crossdomain.xml"))
    assert backend.calls and backend2.calls


def test_cross_domain_needs_the_policy_element() -> None:
    with pytest.raises(ConfigError, match="exactly one <cross-domain-policy>"):
        pipeline(doc(inbound="<cross-domain />"))


# -- redirect-content-urls -----------------------------------------------------------
def api_ctx(**kw: Any) -> Any:
    ctx = make_ctx(**kw)
    ctx.Api = ApiInfo(Id="orders", Name="orders", Path="api", ServiceUrl="http://backend:8080/v1")
    return ctx


async def test_outbound_rewrites_backend_urls_to_the_gateway() -> None:
    backend = FakeBackend(body=b'{"self": "http://backend:8080/v1/orders/1", '
                               b'"other": "http://backend:8080/v10/x", "up": "HTTP://BACKEND:8080/v1"}',
                          headers=[("Location", "http://backend:8080/v1/orders/1")])
    ctx, _ = await run(doc(outbound="<redirect-content-urls />"), api_ctx(), backend)
    assert ctx.Response.Body.content == (b'{"self": "https://gw.example.com/api/orders/1", '
                                         b'"other": "http://backend:8080/v10/x", '
                                         b'"up": "https://gw.example.com/api"}')
    assert ctx.Response.Headers.get("Location") == "http://backend:8080/v1/orders/1"


async def test_inbound_rewrites_gateway_urls_to_the_backend() -> None:
    ctx = api_ctx(method="POST", body=b"see https://gw.example.com/api/orders/2")
    _, backend = await run(doc(inbound="<redirect-content-urls />"), ctx)
    assert backend.calls[0]["body"] == b"see http://backend:8080/v1/orders/2"


async def test_set_backend_service_url_is_the_one_rewritten() -> None:
    xml = doc(inbound='<set-backend-service base-url="https://other.example/base" />',
              outbound="<redirect-content-urls />")
    backend = FakeBackend(body=b"at https://other.example/base/a and http://backend:8080/v1/b")
    ctx, _ = await run(xml, api_ctx(), backend)
    assert ctx.Response.Body.content == (b"at https://gw.example.com/api/a and "
                                         b"http://backend:8080/v1/b")


# -- xsl-transform --------------------------------------------------------------------
SHEET = ('<xsl-transform><parameter name="who">@(context.Request.Headers.GetValueOrDefault('
         '&quot;X-Who&quot;, &quot;nobody&quot;))</parameter>'
         '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
         '<xsl:output method="xml" omit-xml-declaration="yes" />'
         '<xsl:param name="who" />'
         '<xsl:template match="/"><root by="{$who}"><xsl:value-of select="/a/b" /></root>'
         '</xsl:template></xsl:stylesheet></xsl-transform>')


async def test_xsl_transform_request_body_with_a_parameter() -> None:
    pytest.importorskip("lxml")
    ctx = make_ctx(method="POST", headers=[("X-Who", "ann")], body=b"<a><b>text</b></a>")
    _, backend = await run(doc(inbound=SHEET), ctx)
    assert backend.calls[0]["body"].strip() == b'<root by="ann">text</root>'


async def test_xsl_transform_body_not_xml_is_400() -> None:
    pytest.importorskip("lxml")
    ctx, backend = await run(doc(inbound=SHEET), make_ctx(method="POST", body=b"{}"))
    assert not backend.calls and ctx.Response.StatusCode == 400
    assert err(ctx).Reason == "XslTransformFailure"


async def test_xsl_transform_cannot_read_files(tmp_path: Path) -> None:
    pytest.importorskip("lxml")
    secret = tmp_path / "secret.xml"
    secret.write_text("<s>top secret</s>")
    xml = doc(outbound='<xsl-transform><xsl:stylesheet version="1.0" '
                       'xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/">'
                       f'<x><xsl:value-of select="document(\'{secret.as_uri()}\')" /></x>'
                       '</xsl:template></xsl:stylesheet></xsl-transform>')
    ctx, _ = await run(xml, backend=FakeBackend(body=b"<a/>"))
    assert b"top secret" not in (ctx.Response.Body.content or b"")
    assert ctx.Response.StatusCode == 502


def test_xsl_transform_invalid_stylesheet_is_a_compile_error() -> None:
    pytest.importorskip("lxml")
    with pytest.raises(ConfigError, match="invalid stylesheet"):
        pipeline(doc(inbound='<xsl-transform><xsl:stylesheet version="1.0" '
                             'xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
                             '<xsl:nonsense /></xsl:stylesheet></xsl-transform>'))


# forward-request follow-redirects: tests/policies/test_forward_redirects.py

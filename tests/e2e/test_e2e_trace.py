"""`x-kubegate-trace: true` returns the policy trace of a live request, to callers
on the gateway's host (or subscriptions that allow tracing); the header itself
never reaches the backend."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from e2e_support import Backend, Gateway, gateway_config, request

pytestmark = pytest.mark.e2e
POLICY = """<policies>
  <inbound>
    <set-header name="X-Tier" exists-action="override"><value>gold</value></set-header>
    <choose>
      <when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Block&quot;, &quot;&quot;) == &quot;yes&quot;)">
        <return-response><set-status code="403" reason="Forbidden" /></return-response>
      </when>
    </choose>
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>"""


def test_live_trace_for_a_local_caller(backend: Backend,
                                       make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(gateway_config([{"name": "t", "path": "/t", "backend": backend.url,
                                       "policy": POLICY}]))
    plain = request(gw.port, "GET", "/t/echo/1")
    assert plain.status == 200 and plain.header("x-kubegate-trace") is None
    traced = request(gw.port, "GET", "/t/echo/1", headers={"x-kubegate-trace": "true"})
    assert traced.status == 200
    lines = json.loads(traced.header("x-kubegate-trace") or "[]")
    assert lines and any("set-header" in line for line in lines), lines
    seen = {k.lower(): v for k, v in traced.json()["headers"]}
    assert seen["x-tier"] == "gold" and "x-kubegate-trace" not in seen
    blocked = request(gw.port, "GET", "/t/echo/1",
                      headers={"x-kubegate-trace": "true", "X-Block": "yes"})
    assert blocked.status == 403
    assert any("return-response" in line for line in json.loads(
        blocked.header("x-kubegate-trace") or "[]"))

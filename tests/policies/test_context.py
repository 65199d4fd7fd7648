from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubegate.policies.context import (
    ApiInfo,
    Context,
    DeploymentInfo,
    GatewayInfo,
    Headers,
    LastError,
    OperationInfo,
    Response,
)
from kubegate.sources.apim.expressions import ExpressionError, JObject, compile_expression


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(body: bytes | None = None, host: str = "gw.local:8443", **kw: object) -> Context:
    return Context.for_request(
        "GET", "/api/items", "a=1&b=x%20y", [("Accept", "text/plain"), ("X-A", "1"), ("x-a", "2")],
        "192.0.2.1", "https", host, ApiInfo(Id="items", Name="Items", Path="api"),
        OperationInfo(Id="list", Name="List", Method="GET", UrlTemplate="/items"), body,
        **kw)  # type: ignore[arg-type]


def test_headers_are_case_insensitive_multi_valued_and_mutable() -> None:
    h = Headers([("Content-Type", "a"), ("X-A", "1"), ("x-a", "2")])
    assert h.get("content-type") == "a" and h.get_all("X-a") == ["1", "2"]
    assert h.GetValueOrDefault("X-A", "") == "1,2" and "x-A" in h
    h.set("X-A", "3")
    h.append("New", "v")
    h.delete("content-type")
    assert h.to_list() == [("X-A", "3"), ("New", "v")]
    assert h.get("missing", "d") == "d" and h.Count == 2 and h.Keys == ["X-A", "New"]
    with pytest.raises(ExpressionError):
        h.Item("missing")


RAW = [(b"Accept", b"text/plain"), (b"X-A", b"1"), (b"Connection", b"close"),
       (b"x-a", b"2"), (b"X-Request-Id", b"from-client")]


def received() -> Headers:
    return Headers.received(RAW, frozenset({b"connection"}), (("X-Request-Id", "rid-1"),))


def test_received_headers_group_on_first_read_without_hidden_ones() -> None:
    headers = received()
    assert headers.to_list() == [("Accept", "text/plain"), ("X-A", "1"), ("X-A", "2"),
                                 ("X-Request-Id", "rid-1")]
    assert "Connection" not in headers and headers.get("x-a") == "1,2"
    assert not headers.edited and headers.removed == []


@pytest.mark.parametrize("first_read", [False, True])
def test_pop_takes_and_deletes_whether_or_not_grouped(first_read: bool) -> None:
    headers = received()
    if first_read:
        headers.get("Accept")
    assert headers.pop("x-A") == ["1", "2"] and headers.pop("X-A") is None
    assert headers.pop("Connection") is None  # hidden: as if not sent
    assert headers.pop("x-request-id") == ["rid-1"]  # the gateway's value, not the client's
    assert headers.pop("Missing") is None
    assert headers.removed == ["x-a", "x-request-id"]
    assert headers.to_list() == [("Accept", "text/plain")]


READS = ["Accept", "x-a", "X-A", "connection", "X-Request-Id", "missing", "Ünï", "accept"]


@pytest.mark.parametrize("name", READS)
def test_a_scanned_read_agrees_with_the_grouped_headers(name: str) -> None:
    scanned, grouped = received(), received()
    grouped.to_list()
    assert scanned.values_of(name) == grouped.values_of(name)
    assert scanned.get(name) == grouped.get(name) and scanned.get_all(name) == grouped.get_all(name)
    assert scanned._raw is not None  # read without grouping


def test_reads_scan_until_a_few_then_group_and_follow_edits() -> None:
    headers = received()
    assert headers.pop("Accept") == ["text/plain"]
    assert headers.get("accept") is None and headers.get("X-A") == "1,2"
    assert headers._raw is not None
    headers.get("X-A")
    assert headers._raw is not None
    headers.get("X-A")
    assert headers._raw is None  # past SCANNED_READS reads: grouped from here on
    assert headers.get("x-a") == "1,2" and headers.get("Accept") is None
    edited = received()
    edited.set("X-A", "9")
    assert edited.get("x-a") == "9"


def test_for_request_builds_url_and_request() -> None:
    ctx = make()
    url = ctx.Request.Url
    assert (url.Scheme, url.Host, url.Port, url.Path) == ("https", "gw.local", 8443, "/api/items")
    assert url.QueryString == "?a=1&b=x%20y"
    assert url.Query.GetValueOrDefault("b") == "x y"
    url.Query.set("c", "z")
    url.Query.delete("a")
    assert url.QueryString == "?b=x%20y&c=z"
    url.Path = "/rewritten"
    assert ctx.Request.OriginalUrl.Path == "/api/items"
    assert ctx.Request.OriginalUrl.QueryString == "?a=1&b=x%20y"
    assert ctx.Request.Headers.get("x-a") == "1,2"
    assert ctx.Request.IpAddress == "192.0.2.1" and ctx.Api is not None and ctx.Api.Path == "api"
    assert make(host="gw.local").Request.Url.Port == 443
    assert make(host="[::1]:9000").Request.Url.Host == "[::1]"
    assert make(host="[::1]").Request.Url.Port == 443
    assert Context.for_request("GET", "/", "", [], "ip", "http", "h", None, None).Request.Url.ToString() == "http://h/"


def test_body_reads_consume_unless_preserved() -> None:
    ctx = make(b'{"a": [1, {"b": 2}]}')
    body = ctx.Request.Body
    obj = body.As("JObject", preserveContent=True)
    assert isinstance(obj, JObject) and obj["a"][1]["b"] == 2
    assert body.As("string", preserveContent=True) == '{"a": [1, {"b": 2}]}'
    assert body.As() == '{"a": [1, {"b": 2}]}'
    assert body.As() == "" and body.content == b""
    assert make(b"").Request.Body.As("JObject") is None
    with pytest.raises(ExpressionError, match="not a JSON array"):
        make(b"{}").Request.Body.As("JArray")
    with pytest.raises(ExpressionError, match="invalid JSON"):
        make(b"{nope").Request.Body.As("JObject")


def test_time_request_id_and_lazy_parts() -> None:
    clock = FakeClock()
    ctx = make(clock=clock, request_id="rid")
    clock.now += 2.5
    assert ctx.Timestamp == datetime.fromtimestamp(1000.0, UTC)
    assert ctx.Elapsed == timedelta(seconds=2.5)
    assert ctx.now() == datetime.fromtimestamp(1002.5, UTC)
    assert ctx.RequestId == "rid"
    fresh = make()
    assert fresh.RequestId == fresh.RequestId and len(fresh.RequestId) == 36
    assert make().RequestId != fresh.RequestId
    assert ctx.Response.StatusCode == 200 and ctx.Response.Headers.to_list() == []
    ctx.Response = Response(404, "Not Found", [("A", "b")], b"x")
    assert compile_expression("@(context.Response.StatusReason + context.Response.Body.As<string>())")(ctx) == "Not Foundx"


def test_expressions_see_records() -> None:
    ctx = make()
    ctx.LastError = LastError(Source="validate-jwt", Reason="TokenExpired", Message="expired")
    ctx.Deployment = DeploymentInfo(Region="west", ServiceName="gw", Gateway=GatewayInfo(Id="g1"))
    ctx.Variables["v"] = "x"
    expr = compile_expression(
        '@(context.LastError.Source + "/" + context.LastError.Reason + "/" + '
        'context.Deployment.Gateway.Id + "/" + context.Variables["v"] + "/" + context.Operation.Name)')
    assert expr(ctx) == "validate-jwt/TokenExpired/g1/x/List"
    with pytest.raises(TypeError):
        LastError(Bogus=1)


def test_context_slots_prevent_new_attributes() -> None:
    ctx = make()
    with pytest.raises(AttributeError):
        ctx.Extra = 1  # type: ignore[attr-defined]


def test_the_data_planes_constructor_sets_every_slot_as_init_does() -> None:
    """PolicyContext.received (slot by slot, for speed) must stay in step with
    __init__: a slot added to one and not the other fails here."""
    from kubegate.policies.context_http import MessageBody, Request, Url
    from kubegate.policies.state import PolicyContext

    request = Request("GET", Url("http", "h", 80, "/p"), Headers(), "192.0.2.1", MessageBody(None))
    api, operation = ApiInfo(Id="a"), OperationInfo(Id="o")
    fast = PolicyContext.received(request, api, operation, "rid-1", 1_700_000_000.0)
    slow = PolicyContext(request, api=api, operation=operation, request_id="rid-1",
                         clock=lambda: 1_700_000_000.0)
    slots = [s for klass in type(fast).__mro__ for s in getattr(klass, "__slots__", ())]
    for slot in slots:
        if slot == "_clock":
            continue  # the system clock vs the injected one above
        assert getattr(fast, slot) == getattr(slow, slot), slot

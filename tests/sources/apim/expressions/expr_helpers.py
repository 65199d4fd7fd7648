"""Helpers for the expression tests: a Context built like a real request."""

from __future__ import annotations

import base64
import json
from typing import Any

from kubegate.policies.context import ApiInfo, Context, OperationInfo, SubscriptionInfo
from kubegate.sources.apim.expressions import compile_expression

NOW = 1_700_000_000.0


def b64url(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


TOKEN = ".".join([
    b64url({"alg": "RS256", "typ": "JWT"}),
    b64url({"sub": "alice", "iss": "https://issuer", "aud": ["api1", "api2"], "exp": 1700000600,
            "roles": ["admin", "reader"], "jti": "id-1"}),
    "c2ln",
])


def make_context(body: bytes | None = b'{"name": "widget", "count": 3, "tags": ["a", "b"]}',
                 **kw: Any) -> Context:
    ctx = Context.for_request(
        "POST", "/orders/42", "?page=2&tag=x&tag=y",
        [("Content-Type", "application/json"), ("Authorization", "Bearer " + TOKEN),
         ("X-Multi", "one"), ("x-multi", "two")],
        "10.1.2.3", "https", "api.example.com", ApiInfo(Id="orders", Name="Orders", Path="shop"),
        OperationInfo(Id="create", Name="Create order", Method="POST", UrlTemplate="/orders/{id}"),
        body, clock=lambda: NOW, request_id="req-1", matched_parameters={"id": "42"}, **kw)
    ctx.Subscription = SubscriptionInfo(Id="sub1", Key="k-123", Name="Gold")
    ctx.Variables["count"] = 5
    ctx.Variables["name"] = "Widget"
    ctx.Variables["flag"] = True
    return ctx


def run(source: str, context: Any = None, **kw: Any) -> Any:
    if not source.startswith(("@(", "@{")):
        source = f"@({source})"
    return compile_expression(source, **kw)(context if context is not None else make_context())

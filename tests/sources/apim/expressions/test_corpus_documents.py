"""Expressions of real APIM samples (read from the shared corpus, never copied) compile and
evaluate to what APIM would produce."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from corpus_scan import CORPUS
from expr_helpers import make_context

from kubegate.policies.check import check_file
from kubegate.policies.context import Headers, Response
from kubegate.sources.apim.expressions import ExpressionError, compile_expression
from kubegate.sources.apim.expressions.jwt import as_jwt
from kubegate.sources.apim.masking import decode_xml_loose, mask

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not present at {CORPUS}")
SNIPPETS = "Azure__api-management-policy-snippets/examples/"


def expression(doc: str, containing: str) -> str:
    text = (CORPUS / doc).read_text(encoding="utf-8-sig")
    found = [decode_xml_loose(e.value) for e in mask(text).expressions if containing in e.value]
    assert found, f"no expression with {containing!r} in {doc}"
    return found[0]


def evaluate(doc: str, containing: str, ctx: Any = None,
             named_values: dict[str, str] | None = None) -> Any:
    fn = compile_expression(expression(doc, containing), named_values=named_values)
    return fn(ctx if ctx is not None else make_context())


@pytest.mark.parametrize("doc", [
    SNIPPETS + name for name in (
        "Add correlation id to inbound request.policy.xml",
        "Create HMAC SHA256-Signed JWT.policy.xml",
        "Decrypt AES Data using policy expressions.xml",
        "Encrypt data using expressions.policy.xml",
        "Filter on IP Address when using Application Gateway.policy.xml",
        "Log errors to Stackify.policy.xml",
        "Parse a JWT token using expressions.xml",
        "Perform basic authentication.policy.xml",
        "Query CosmosDB.policy.xml",
        "Set cache duration using response cache control header.policy.xml",
        "oauth-proxy/oauth-proxy-session-fragment.xml",
        "oauth-proxy/oauth-proxy-sign-out.xml",
        "oauth-proxy/oauth-proxy-slide-session-fragment.xml",
    )])
def test_document_compiles(doc: str) -> None:
    result = check_file(CORPUS / doc)
    assert result.ok, [p.message for p in result.problems]


def test_filter_on_ip_address() -> None:
    doc = SNIPPETS + "Filter on IP Address when using Application Gateway.policy.xml"
    fn = compile_expression(expression(doc, "HostToNetworkOrder"),
                            named_values={"ipValidated": "VALID"})
    for ip, expected in [("10.1.2.3:5555", "VALID"), ("172.20.1.1", "VALID"),
                         ("172.32.0.1", "172.32.0.1"), ("192.168.7.200", "VALID"),
                         ("8.8.8.8", "8.8.8.8"), ("10.250.3.255", "VALID")]:
        ctx = make_context()
        ctx.Request.Headers = Headers([("X-Forwarded-For", ip)])
        assert fn(ctx) == expected, ip


def test_hmac_signed_jwt() -> None:
    doc = SNIPPETS + "Create HMAC SHA256-Signed JWT.policy.xml"
    out = evaluate(doc, "jwtHeaderBase64UrlEncoded", named_values={"hashing-secret": "s3cret"})
    header, payload, signature = out.removeprefix("Bearer ").split(".")
    assert header == "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"  # the value the sample quotes
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {
        "exp": 1_700_000_600, "username": "john_doe"}
    mac = hmac.new(b"s3cret", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(mac).decode().rstrip("=")


def test_encrypt_then_decrypt_samples() -> None:
    key, iv = base64.b64encode(bytes(range(24))).decode(), base64.b64encode(bytes(16)).decode()
    ctx = make_context()
    ctx.Variables.update(IV=iv, key=key)
    ctx.Request.MatchedParameters["Goober"] = "secret value"
    encrypted = evaluate(SNIPPETS + "Encrypt data using expressions.policy.xml", "Encrypt", ctx)
    ctx = make_context(body=json.dumps({"encrpText": encrypted}).encode())
    ctx.Variables.update(IV=iv, key=key)
    assert evaluate(SNIPPETS + "Decrypt AES Data using policy expressions.xml", "Decrypt",
                    ctx) == "secret value"


def test_session_cookie_decrypt_failure_is_caught() -> None:
    doc = SNIPPETS + "oauth-proxy/oauth-proxy-session-fragment.xml"
    ctx = make_context()
    ctx.Variables.update(encryptedCookie="AAAA", cookieKey="1",
                         ivCookie="00000000-0000-0000-0000-000000000000")
    key = base64.b64encode(bytes(16)).decode()
    assert evaluate(doc, "try", ctx, {"CookieEncryptionKey1": key,
                                      "CookieEncryptionKey2": key}) == ""


def test_backend_for_frontend_aggregation() -> None:
    ctx = make_context()
    ctx.Variables["operation1"] = Response(200, "OK", [], b'{"a": 1}')
    ctx.Variables["operation2"] = Response(500, "Error", [], b"oops")
    ctx.Variables["operation3"] = Response(200, "OK", [], b"not json")
    out = evaluate(SNIPPETS + "Backend for Frontend or curated API policy.xml", "ParseBody", ctx)
    assert out == {"body": [
        {"operation": "operation1", "status": 200, "body": {"a": 1}},
        {"operation": "operation2", "status": 500, "error": "oops"},
        {"operation": "operation3", "status": 200, "body": "not json"},
        {"operation": "operation4", "error": ""},
    ], "status": 207, "reason": "Multi Status"}


def test_cache_duration_from_cache_control() -> None:
    doc = SNIPPETS + "Set cache duration using response cache control header.policy.xml"
    ctx = make_context()
    ctx.Response = Response(200, "OK", [("Cache-Control", "public, max-age=120")])
    assert evaluate(doc, "Regex", ctx) == 120
    assert evaluate(doc, "Regex") == 300


def test_parse_jwt_permissions() -> None:
    ctx = make_context()
    jwt = as_jwt(ctx.Request.Headers.GetValueOrDefault("Authorization", ""))
    assert jwt is not None
    ctx.Variables["valid-jwt"] = jwt
    doc = SNIPPETS + "Parse a JWT token using expressions.xml"
    with pytest.raises(ExpressionError, match="not present"):  # Claims[...] of a missing claim
        evaluate(doc, "Array.Exists", ctx)
    jwt.Claims._claims["permissions"] = ["sendText", "sendEmail"]
    assert evaluate(doc, "Array.Exists", ctx) is True
    jwt.Claims._claims["permissions"] = ["sendText"]
    assert evaluate(doc, "Array.Exists", ctx) is False


def test_basic_authentication() -> None:
    doc = SNIPPETS + "Perform basic authentication.policy.xml"
    ctx = make_context()
    ctx.Request.Headers = Headers([("Authorization", "Basic " + base64.b64encode(b"u:p").decode())])
    assert evaluate(doc, "AsBasic", ctx, {"UserId": "u", "Password": "p"}) is False
    assert evaluate(doc, "AsBasic", ctx, {"UserId": "u", "Password": "x"}) is True


def test_sign_out_redirect_check() -> None:
    ctx = make_context()
    ctx.Variables["redirect"] = "https://app.example.com/OAuth/callback"
    doc = SNIPPETS + "oauth-proxy/oauth-proxy-sign-out.xml"
    assert evaluate(doc, "new Uri", ctx) is True

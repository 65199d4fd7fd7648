"""rules_from_element: the <validate-jwt> element as a plain tree."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubegate.model.errors import ConfigError
from kubegate.services.jwt import KeyKind, TokenSource, rules_from_element

KEY = base64.b64encode(bytes(range(32))).decode()


def el(name: str, attributes: dict[str, str] | None = None, *children: dict[str, Any],
       text: str | None = None) -> dict[str, Any]:
    return {"name": name, "attributes": attributes or {}, "children": list(children),
            "text": text, "line": 7}


def full() -> dict[str, Any]:
    return el(
        "validate-jwt",
        {"header-name": "Authorization", "failed-validation-httpcode": "403",
         "failed-validation-error-message": "Unauthorized", "require-expiration-time": "false",
         "require-scheme": "Bearer", "require-signed-tokens": "true", "clock-skew": "30",
         "output-token-variable-name": "jwt"},
        el("openid-config", {"url": "https://login.example/.well-known/openid-configuration"}),
        el("openid-config", {"url": "https://other.example/.well-known/openid-configuration"}),
        el("issuer-signing-keys", {}, el("key", {"id": "k1"}, text=KEY),
           el("key", {"n": "AQAB", "e": "AQAB"}), el("key", {"certificate-id": "c1"})),
        el("audiences", {}, el("audience", text="api")),
        el("issuers", {}, el("issuer", text="https://issuer/")),
        el("required-claims", {}, el("claim", {"name": "group", "match": "any", "separator": ","},
                                     el("value", text="admin"))),
    )


def test_full_element():
    rules = rules_from_element(full(), certificates={"c1": b"\x30\x00"})
    assert rules.source is TokenSource.HEADER and rules.header_name == "Authorization"
    assert rules.failed_validation_httpcode == 403 and rules.clock_skew == 30
    assert rules.require_expiration_time is False and rules.scheme_applies
    assert len(rules.openid_config_urls) == 2
    assert [k.kind for k in rules.signing_keys] == [KeyKind.SYMMETRIC, KeyKind.RSA,
                                                    KeyKind.CERTIFICATE]
    assert rules.signing_keys[0].key_id == "k1"
    assert rules.audiences == ("api",) and rules.issuers == ("https://issuer/",)
    claim = rules.required_claims[0]
    assert (claim.name, claim.values, claim.match, claim.separator) == ("group", ("admin",), "any", ",")


def test_defaults():
    rules = rules_from_element(el("validate-jwt", {"query-parameter-name": "token"}))
    assert rules.source is TokenSource.QUERY and rules.failed_validation_httpcode == 401
    assert rules.require_expiration_time and rules.require_signed_tokens and rules.clock_skew == 0
    assert not rules.scheme_applies


@pytest.mark.parametrize("element, message", [
    (el("validate-jwt", {"header-name": "A", "bogus": "1"}), "unknown attribute 'bogus'"),
    (el("validate-jwt", {"header-name": "A"}, el("nope")), "unknown element"),
    (el("validate-jwt", {}), "exactly one of header-name"),
    (el("validate-jwt", {"header-name": "A", "token-value": "@(x)"}), "exactly one of"),
    (el("validate-jwt", {"header-name": "A"}, el("decryption-keys")), "not supported"),
    (el("validate-jwt", {"header-name": "A"}, el("issuer-signing-keys", {}, el("key", text="***"))),
     "not valid base64"),
    (el("validate-jwt", {"header-name": "A"},
        el("issuer-signing-keys", {}, el("key", {"certificate-id": "zz"}))), "not a known"),
    (el("validate-jwt", {"header-name": "A"}, el("issuer-signing-keys", {}, el("key", {"n": "A"}))),
     "both n and e"),
    (el("validate-jwt", {"header-name": "A", "clock-skew": "-1"}), "clock-skew"),
    (el("validate-jwt", {"header-name": "A", "require-scheme": "Bearer", "require-expiration-time": "yes"}),
     "'true' or 'false'"),
    (el("validate-jwt", {"header-name": "A"}, el("audiences", {}, el("audience", text="@(x)"))),
     "expressions are not supported"),
    (el("validate-jwt", {"header-name": "A"}, el("audiences"), el("audiences")), "only once"),
    (el("validate-jwt", {"header-name": "A"},
        el("required-claims", {}, el("claim", {"name": "g", "match": "some"}))), "match must"),
    (el("validate-jwt", {"header-name": "A"}, el("openid-config", {"url": "file:///etc"})), "url"),
])
def test_errors(element, message):
    with pytest.raises(ConfigError, match=message) as info:
        rules_from_element(element)
    assert info.value.problems[0].line == 7

"""Build JwtRules from a generic element tree shaped like APIM's `<validate-jwt>` XML.

An element is a mapping {"name": str, "attributes": {str: str}, "children": [element],
"text": str | None, "line": int | None}. Unknown attributes or children, missing or
conflicting token sources and malformed keys raise ConfigError naming the element and line.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from kubegate.model.errors import ConfigError, Problem
from kubegate.services.jwt.rules import ClaimRule, JwtRules, KeyKind, SigningKeySpec, TokenSource

Element = Mapping[str, Any]

_TOP_ATTRS = {
    "header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
    "failed-validation-error-message", "require-expiration-time", "require-scheme",
    "require-signed-tokens", "clock-skew", "output-token-variable-name",
}
_SINGLE_CHILDREN = {"issuer-signing-keys", "decryption-keys", "audiences", "issuers",
                    "required-claims"}


class _Ctx:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def err(self, el: Element, message: str, field: str | None = None) -> None:
        line = el.get("line")
        self.problems.append(Problem(f"<{el.get('name')}>: {message}", line=line, field=field))


def _attrs(el: Element) -> dict[str, str]:
    return {str(k): str(v) for k, v in (el.get("attributes") or {}).items()}


def _children(el: Element) -> list[Element]:
    return list(el.get("children") or [])


def _text(el: Element) -> str:
    return str(el.get("text") or "").strip()


def _check_attrs(ctx: _Ctx, el: Element, allowed: set[str]) -> dict[str, str]:
    attrs = _attrs(el)
    for name in sorted(set(attrs) - allowed):
        ctx.err(el, f"unknown attribute '{name}' (allowed: {', '.join(sorted(allowed)) or 'none'})",
                name)
    return attrs


def _literal(ctx: _Ctx, el: Element, value: str, what: str) -> str:
    if value.startswith(("@(", "@{")):
        ctx.err(el, f"{what}: policy expressions are not supported here; use a literal value")
    return value


def _bool(ctx: _Ctx, el: Element, attrs: dict[str, str], name: str, default: bool) -> bool:
    raw = attrs.get(name)
    if raw is None:
        return default
    low = _literal(ctx, el, raw, name).strip().lower()
    if low not in ("true", "false"):
        ctx.err(el, f"{name} must be 'true' or 'false', not {raw!r}", name)
        return default
    return low == "true"


def _int(ctx: _Ctx, el: Element, attrs: dict[str, str], name: str, default: int,
         lo: int, hi: int) -> int:
    raw = attrs.get(name)
    if raw is None:
        return default
    try:
        value = int(_literal(ctx, el, raw, name).strip())
    except ValueError:
        ctx.err(el, f"{name} must be an integer, not {raw!r}", name)
        return default
    if not lo <= value <= hi:
        ctx.err(el, f"{name} must be between {lo} and {hi}, not {value}", name)
        return default
    return value


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _key(ctx: _Ctx, el: Element, certificates: Mapping[str, str | bytes]) -> SigningKeySpec | None:
    if el.get("name") != "key":
        ctx.err(el, "only <key> elements are allowed in <issuer-signing-keys>")
        return None
    attrs = _check_attrs(ctx, el, {"id", "certificate-id", "n", "e"})
    text, kid = _text(el), attrs.get("id")
    forms = [bool(text), "certificate-id" in attrs, "n" in attrs or "e" in attrs]
    if sum(forms) != 1:
        ctx.err(el, "a key needs exactly one of: base64 text, certificate-id, or n and e")
        return None
    if text:
        if _b64(_literal(ctx, el, text, "key")) is None:
            ctx.err(el, "key text is not valid base64 (a symmetric signing key)")
            return None
        return SigningKeySpec(KeyKind.SYMMETRIC, value=text, key_id=kid)
    if "certificate-id" in attrs:
        cert = certificates.get(attrs["certificate-id"])
        if cert is None:
            ctx.err(el, f"certificate-id '{attrs['certificate-id']}' is not a known certificate")
            return None
        value = base64.b64encode(cert).decode() if isinstance(cert, bytes) else cert
        return SigningKeySpec(KeyKind.CERTIFICATE, value=value, key_id=kid)
    if not attrs.get("n") or not attrs.get("e"):
        ctx.err(el, "an RSA key needs both n and e")
        return None
    return SigningKeySpec(KeyKind.RSA, n=attrs["n"], e=attrs["e"], key_id=kid)


def _texts(ctx: _Ctx, el: Element, child: str) -> tuple[str, ...]:
    _check_attrs(ctx, el, set())
    out: list[str] = []
    for c in _children(el):
        _check_attrs(ctx, c, set())
        if c.get("name") != child:
            ctx.err(c, f"only <{child}> elements are allowed in <{el.get('name')}>")
        elif not _text(c):
            ctx.err(c, "must not be empty")
        else:
            out.append(_literal(ctx, c, _text(c), child))
    return tuple(out)


def _claim(ctx: _Ctx, el: Element) -> ClaimRule | None:
    if el.get("name") != "claim":
        ctx.err(el, "only <claim> elements are allowed in <required-claims>")
        return None
    attrs = _check_attrs(ctx, el, {"name", "match", "separator"})
    match = attrs.get("match", "all")
    if match not in ("all", "any"):
        ctx.err(el, f"match must be 'all' or 'any', not {match!r}", "match")
    if not attrs.get("name"):
        ctx.err(el, "a claim needs a name", "name")
        return None
    values = _texts(ctx, {**el, "attributes": {}}, "value")
    return ClaimRule(attrs["name"], values, match, attrs.get("separator") or None)


def _source(ctx: _Ctx, el: Element, attrs: dict[str, str]) -> TokenSource:
    given = [a for a in ("header-name", "query-parameter-name", "token-value") if a in attrs]
    if len(given) != 1:
        ctx.err(el, "exactly one of header-name, query-parameter-name or token-value "
                    f"must be specified (found: {', '.join(given) or 'none'})")
        return TokenSource.HEADER
    return {"header-name": TokenSource.HEADER, "query-parameter-name": TokenSource.QUERY,
            "token-value": TokenSource.VALUE}[given[0]]


def rules_from_element(
    element: Element, *, certificates: Mapping[str, str | bytes] | None = None
) -> JwtRules:
    """Validate a `<validate-jwt>` element and return its rules; raise ConfigError otherwise.

    `certificates` maps APIM certificate ids to DER bytes (or base64 DER text).
    """
    ctx = _Ctx()
    if element.get("name") != "validate-jwt":
        raise ConfigError.one(f"expected <validate-jwt>, got <{element.get('name')}>")
    attrs = _check_attrs(ctx, element, _TOP_ATTRS)
    source = _source(ctx, element, attrs)
    for name in ("header-name", "query-parameter-name", "require-scheme"):
        if name in attrs:
            _literal(ctx, element, attrs[name], name)
    scheme = attrs.get("require-scheme") or None
    found: dict[str, Any] = {"openid": [], "keys": [], "audiences": (), "issuers": (),
                             "claims": []}
    seen: set[str] = set()
    handlers: dict[str, Callable[[Element], None]] = {
        "openid-config": lambda c: _openid(ctx, c, found),
        "issuer-signing-keys": lambda c: found["keys"].extend(
            k for k in (_key(ctx, x, certificates or {}) for x in _children(_no_attrs(ctx, c)))
            if k is not None),
        "decryption-keys": lambda c: ctx.err(
            c, "encrypted tokens (JWE) are not supported by kubegate; remove <decryption-keys>"),
        "audiences": lambda c: found.__setitem__("audiences", _texts(ctx, c, "audience")),
        "issuers": lambda c: found.__setitem__("issuers", _texts(ctx, c, "issuer")),
        "required-claims": lambda c: found["claims"].extend(
            r for r in (_claim(ctx, x) for x in _children(_no_attrs(ctx, c))) if r is not None),
    }
    for child in _children(element):
        name = str(child.get("name"))
        if name not in handlers:
            ctx.err(child, f"unknown element in <validate-jwt> (allowed: {', '.join(handlers)})")
            continue
        if name in _SINGLE_CHILDREN and name in seen:
            ctx.err(child, "may appear only once")
        seen.add(name)
        handlers[name](child)
    rules = JwtRules(
        source=source,
        header_name=attrs.get("header-name") if source is TokenSource.HEADER else None,
        query_parameter_name=attrs.get("query-parameter-name"),
        token_value=attrs.get("token-value"),
        failed_validation_httpcode=_int(ctx, element, attrs, "failed-validation-httpcode",
                                        401, 100, 599),
        failed_validation_error_message=attrs.get("failed-validation-error-message") or None,
        require_expiration_time=_bool(ctx, element, attrs, "require-expiration-time", True),
        require_scheme=scheme,
        require_signed_tokens=_bool(ctx, element, attrs, "require-signed-tokens", True),
        clock_skew=_int(ctx, element, attrs, "clock-skew", 0, 0, 86400),
        output_token_variable_name=attrs.get("output-token-variable-name") or None,
        openid_config_urls=tuple(found["openid"]),
        signing_keys=tuple(found["keys"]),
        audiences=found["audiences"],
        issuers=found["issuers"],
        required_claims=tuple(found["claims"]),
    )
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return rules


def _no_attrs(ctx: _Ctx, el: Element) -> Element:
    _check_attrs(ctx, el, set())
    return el


def _openid(ctx: _Ctx, el: Element, found: dict[str, Any]) -> None:
    attrs = _check_attrs(ctx, el, {"url", "validate-connectivity"})
    url = attrs.get("url", "")
    if not url.startswith(("https://", "http://")):
        ctx.err(el, f"url must be an http(s) URL, not {url!r}", "url")
    elif _literal(ctx, el, url, "url"):
        found["openid"].append(url)
    if _children(el):
        ctx.err(el, "takes no child elements")

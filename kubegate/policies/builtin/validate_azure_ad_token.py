"""validate-azure-ad-token: APIM's Microsoft Entra ID variant of validate-jwt, run by the
validate-jwt machinery (``jwt_step``) on a ``<validate-jwt>`` tree built from it.

* ``tenant-id`` (a tenant GUID or domain; ``https://`` and a trailing ``/`` are cut)
  and ``authentication-endpoint`` (default ``login.microsoftonline.com``) give the
  OpenID configurations ``https://{endpoint}/{tenant}/v2.0/.well-known/openid-configuration``
  (v2 tokens, issuer ``https://{endpoint}/{tenant id}/v2.0``) and
  ``https://{endpoint}/{tenant}/.well-known/openid-configuration`` (v1 tokens, issuer
  ``https://sts.windows.net/{tenant id}/``): keys and issuers come from there.
* ``<client-application-ids>``: the token's ``azp`` (v2) or ``appid`` (v1) must be one
  of them, else ``TokenClientApplicationNotAllowed``.
* ``<audiences>`` and ``<backend-application-ids>``: ``aud`` must be one of the
  audiences, a backend application id, or ``api://`` + a backend application id.
* ``<required-claims>``, ``header-name`` (default ``Authorization`` with the ``Bearer``
  scheme), ``query-parameter-name``, ``token-value``, ``failed-validation-httpcode``
  (401), ``failed-validation-error-message``, ``output-token-variable-name``: as in
  validate-jwt. At least one client application id, audience or backend application
  id is required (a token of any application of the tenant is not accepted by default).
"""

from __future__ import annotations

import re
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.services.jwt import JwtFailure, JwtRules, VerifiedToken

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step
from .validate_jwt import _tree, jwt_step

DEFAULT_ENDPOINT = "login.microsoftonline.com"
_PASSED = ("header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
           "failed-validation-error-message", "output-token-variable-name")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?(?::\d+)?$")


def _bare(value: str) -> str:
    value = value.strip()
    for prefix in ("https://", "http://"):
        if value.lower().startswith(prefix):
            value = value[len(prefix):]
    return value.strip("/")


def _ids(c: Compiler, el: PolicyElement, tree: dict[str, Any]) -> list[str]:
    """The ``<application-id>`` texts (named values resolved in ``tree``)."""
    c.check_attrs(el, ())
    c.check_children(el, ("application-id",))
    out = []
    for ch, resolved in zip(el.children, tree["children"], strict=True):
        text = str(resolved["text"] or "").strip()
        if text.startswith("@"):
            c.problem(ch, "policy expressions are not allowed here (as in APIM)")
        elif not text:
            c.problem(ch, "must not be empty")
        else:
            out.append(text)
    return out


def _element(name: str, line: int | None, children: list[dict[str, Any]] | None = None,
             attributes: dict[str, str] | None = None, text: str | None = None
             ) -> dict[str, Any]:
    return {"name": name, "line": line, "attributes": attributes or {}, "text": text,
            "children": children or []}


@register("validate-azure-ad-token", sections={"inbound"},
          summary="require a valid Microsoft Entra ID token")
def compile_validate_azure_ad_token(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("tenant-id", "authentication-endpoint", *_PASSED), required=("tenant-id",))
    c.check_children(el, ("client-application-ids", "backend-application-ids", "audiences",
                          "required-claims", "decryption-keys"))
    tenant = _bare(c.const(el, "tenant-id", "") or "")
    endpoint = _bare(c.const(el, "authentication-endpoint", DEFAULT_ENDPOINT) or "")
    if "tenant-id" in el.attributes and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]*", tenant):
        c.attr_problem(el, "tenant-id", f"expected a tenant id or domain, got {tenant!r}")
    if not _HOST.match(endpoint):
        c.attr_problem(el, "authentication-endpoint", f"expected a host name, got {endpoint!r}")
    jwt = _tree(el, c)
    attributes = {k: v for k, v in jwt["attributes"].items() if k in _PASSED}
    if not any(k in attributes for k in ("header-name", "query-parameter-name", "token-value")):
        attributes["header-name"] = "Authorization"
    if attributes.get("header-name", "").lower() == "authorization":
        attributes["require-scheme"] = "Bearer"
    clients: list[str] = []
    audiences: list[dict[str, Any]] = []
    children = [_element("openid-config", el.line, attributes={"url": url}) for url in (
        f"https://{endpoint}/{tenant}/v2.0/.well-known/openid-configuration",
        f"https://{endpoint}/{tenant}/.well-known/openid-configuration")]
    for ch, tree in zip(el.children, jwt["children"], strict=True):
        if ch.name == "client-application-ids":
            clients += _ids(c, ch, tree)
        elif ch.name == "backend-application-ids":
            audiences += [_element("audience", ch.line, text=t)
                          for i in _ids(c, ch, tree) for t in (i, f"api://{i}")]
        elif ch.name == "audiences":
            audiences += tree["children"]
        else:
            children.append(tree)
    if audiences:
        children.append(_element("audiences", el.line, audiences))
    if not clients and not audiences:
        c.problem(el, "needs <client-application-ids> (or <audiences> / "
                      "<backend-application-ids>): without them a token of any application "
                      "of the tenant would pass")
    allowed = frozenset(clients)

    def client_check(rules: JwtRules, token: VerifiedToken) -> JwtFailure | None:
        app = token.claims.get("azp", token.claims.get("appid"))
        if not allowed or (isinstance(app, str) and app in allowed):
            return None
        detail = "Client application validation failed."
        return JwtFailure(rules.failed_validation_httpcode,
                          rules.failed_validation_error_message or f"{detail} Access denied.",
                          "TokenClientApplicationNotAllowed", detail)
    return jwt_step(el, c, path, _element("validate-jwt", el.line, children, attributes),
                    client_check)

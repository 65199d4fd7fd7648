"""cross-domain: answer Flash and Silverlight cross-domain policy requests.

The element holds one ``<cross-domain-policy>`` in Adobe's policy file format.
A ``GET`` (or ``HEAD``) of ``/crossdomain.xml`` at the gateway root is answered
with that document (``text/x-cross-domain-policy``), and ``/clientaccesspolicy.xml``
with the equivalent Silverlight ``<access-policy>`` (``application/xml``): the
domains of ``allow-access-from`` and ``allow-http-request-headers-from``, the
headers of the latter, granted on every path. The pipeline then ends (like
return-response). Any other request passes through untouched.

kubegate difference: the policy runs only for requests routed to an operation,
so the document is served for ``/crossdomain.xml`` when an API is published at
the gateway root (APIM answers at the root itself).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..context import Response
from ..errors import STOP
from ..registry import register
from ..runtime import Step, trace
from ._inner_xml import MixedContentError, outer

FLASH_PATH = "/crossdomain.xml"
SILVERLIGHT_PATH = "/clientaccesspolicy.xml"
ALLOWED = ("site-control", "allow-access-from", "allow-access-from-identity",
           "allow-http-request-headers-from")


def _resolved(el: PolicyElement, c: Compiler) -> PolicyElement | None:
    """``el`` with attribute values compiled (named values resolved; constants only)."""
    attrs: dict[str, str] = {}
    for name in el.attributes:
        value = c.const(el, name)
        if value is None:
            return None
        attrs[name] = value
    kids = [_resolved(k, c) for k in el.children]
    if any(k is None for k in kids):
        return None
    return PolicyElement(el.name, attrs, tuple(k for k in kids if k is not None), el.text,
                         el.line, el.column, el.file, el.positions, el.scope)


def silverlight(policy: PolicyElement) -> bytes:
    domains: list[str] = []
    headers: list[str] = []
    for rule in policy.children:
        if rule.name in ("allow-access-from", "allow-http-request-headers-from"):
            d = rule.attributes.get("domain", "")
            if d and d not in domains:
                domains.append(d)
        if rule.name == "allow-http-request-headers-from":
            headers += [h.strip() for h in rule.attributes.get("headers", "").split(",")
                        if h.strip() and h.strip() not in headers]
    allow = f" http-request-headers={quoteattr(','.join(headers))}" if headers else ""
    uris = "".join(f"<domain uri={quoteattr(d)}/>" for d in domains)
    return ('<?xml version="1.0" encoding="utf-8"?><access-policy><cross-domain-access>'
            f"<policy><allow-from{allow}>{uris}</allow-from><grant-to>"
            '<resource path="/" include-subpaths="true"/></grant-to></policy>'
            "</cross-domain-access></access-policy>").encode()


@register("cross-domain", sections={"inbound"},
          summary="serve /crossdomain.xml and /clientaccesspolicy.xml")
def compile_cross_domain(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ())
    c.check_children(el, ("cross-domain-policy",))
    if el.text:
        c.problem(el, "text is not allowed here: expected one <cross-domain-policy>")
    if len(el.children) != 1 or el.children[0].name != "cross-domain-policy":
        if not any(k.name != "cross-domain-policy" for k in el.children):
            c.problem(el, "needs exactly one <cross-domain-policy> child")
        return None
    policy = _resolved(el.children[0], c)
    if policy is None:
        return None
    c.check_children(policy, ALLOWED)
    try:
        flash = ('<?xml version="1.0"?><!DOCTYPE cross-domain-policy SYSTEM '
                 '"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">'
                 + outer(policy)).encode()
    except MixedContentError as exc:
        c.problem(exc.element, str(exc))
        return None
    docs = {FLASH_PATH: (flash, "text/x-cross-domain-policy"),
            SILVERLIGHT_PATH: (silverlight(policy), "application/xml")}

    def run(ctx: Any) -> object | None:
        req = ctx.Request
        doc = docs.get(req.OriginalUrl.Path.lower())
        if doc is None or req.Method not in ("GET", "HEAD"):
            return None
        body, ctype = doc
        ctx.Response = Response(200, "OK", [("Content-Type", ctype)], body)
        trace(ctx, f"cross-domain: served {req.OriginalUrl.Path}")
        return STOP
    return c.step(el, path, run)

"""xsl-transform: apply an XSLT 1.0 stylesheet to the request or response body.

Children: ``<parameter name="..."/>`` (or ``parameter-name``; text or an
expression, passed as an ``xsl:param`` string) and one ``<xsl:stylesheet>`` (or
``xsl:transform``); a stylesheet given as text (in ``<![CDATA[...]]>``) works too.
The stylesheet is compiled once, with lxml (libxslt), under an access control
that denies every file and network read or write (``document()``,
``xsl:import``/``include``, ``exsl:document``), and with entity resolution,
DTD loading and network access off for both the stylesheet and the body. The
body is replaced by the transformation's output (as ``xsl:output`` says); the
Content-Type is left as it is. A body that is not XML, or a transformation
error, goes to on-error (Reason ``XslTransformFailure``; 400 for a request,
502 for a response). Needs the ``lxml`` package.
"""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ._inner_xml import MixedContentError, outer
from ._util import evaluator, targets_response, to_text

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
STYLESHEETS = ("xsl:stylesheet", "xsl:transform")


def _parser(etree: Any) -> Any:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


def _stylesheet_text(el: PolicyElement, c: Compiler) -> str | None:
    sheets = [k for k in el.children if k.name in STYLESHEETS]
    if len(sheets) > 1:
        c.problem(el, "only one <xsl:stylesheet> is allowed")
        return None
    if not sheets:
        text = (el.text or "").strip()
        if text.startswith("<"):
            return text
        c.problem(el, "needs an <xsl:stylesheet> child")
        return None
    sheet = sheets[0]
    try:
        markup = outer(sheet, liquid=False)
    except MixedContentError as exc:
        c.problem(exc.element, str(exc))
        return None
    prefix = sheet.name.split(":", 1)[0]
    if f"xmlns:{prefix}" not in sheet.attributes:  # declared on an ancestor in the document
        head = f"<{sheet.name}"
        markup = f'{head} xmlns:{prefix}="{XSL_NS}"' + markup[len(head):]
    return markup


@register("xsl-transform", sections={"inbound", "outbound"},
          summary="transform an XML body with XSLT")
def compile_xsl_transform(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ())
    c.check_children(el, ("parameter", *STYLESHEETS))
    params: list[tuple[str, Any]] = []
    for p in el.children:
        if p.name == "parameter":
            c.check_attrs(p, ("name", "parameter-name"))
            name = c.const(p, "name") or c.const(p, "parameter-name")
            if not name:
                c.problem(p, "needs a 'name' (or 'parameter-name') attribute")
                continue
            params.append((name, evaluator(c.text(p))))
    source = _stylesheet_text(el, c)
    if source is None:
        return None
    try:
        from lxml import etree
    except ImportError:
        c.problem(el, "xsl-transform needs the lxml package, which is not installed")
        return None
    try:
        xslt = etree.XSLT(etree.fromstring(source.encode("utf-8"), _parser(etree)),
                          access_control=etree.XSLTAccessControl.DENY_ALL)
    except (etree.XMLSyntaxError, etree.XSLTParseError) as exc:
        c.problem(el, f"invalid stylesheet: {exc}")
        return None
    response = targets_response(c.section)
    if response:
        c.needs_response_body = True
    else:
        c.needs_request_body = True

    def fail(message: str) -> PolicyFailure:
        return PolicyFailure(502 if response else 400, "XslTransformFailure",
                             f"xsl-transform: {message}", source="xsl-transform")

    def run(ctx: Any) -> None:
        message = ctx.Response if response else ctx.Request
        try:
            doc = etree.fromstring(message.Body.content or b"", _parser(etree))
        except etree.XMLSyntaxError as exc:
            raise fail(f"the body is not XML: {exc}") from None
        args = {n: etree.XSLT.strparam(to_text(get(ctx))) for n, get in params}
        try:
            result = xslt(doc, **args)
        except etree.XSLTApplyError as exc:
            raise fail(str(exc)) from None
        message.Body.content = bytes(result)
        trace(ctx, f"xsl-transform: {len(message.Body.content)} bytes")
    return c.step(el, path, run, target="response" if response else "request")

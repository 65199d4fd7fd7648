"""xsl-transform: apply an XSLT 1.0 stylesheet to the request or response body.

Children: ``<parameter name="..."/>`` (or ``parameter-name``; text or an
expression, passed as an ``xsl:param`` string) and one ``<xsl:stylesheet>`` (or
``xsl:transform``); a stylesheet given as text (in ``<![CDATA[...]]>``) works too.
The stylesheet is compiled once, with lxml (libxslt). It must be
self-contained: ``xsl:include``/``xsl:import`` are compile errors, and its
parser has a resolver that refuses every URL, so nothing outside the policy
document is read while compiling. The transformation runs under an access
control that denies every file and network read or write (``document()``,
``exsl:document``); entity resolution, DTD loading and network access are off
for both the stylesheet and the body. The body is replaced by the
transformation's output (as ``xsl:output`` says); the Content-Type is left as
it is.

The transform runs synchronously on the worker's event loop (libxslt has no
time limit), so what a client can make it do is bounded by caps on the body:
at most ``MAX_INPUT_BYTES`` (4 MiB) and ``MAX_INPUT_NODES`` (10 000 elements
plus attributes; a stylesheet that is quadratic in the document, such as
``//i[not(. = preceding::i)]``, stays around a second); the output may be at
most ``MAX_OUTPUT_BYTES`` (16 MiB). A body that is not XML or over a cap, an
output over its cap, or a transformation error goes to on-error (Reason
``XslTransformFailure``; 400 for a request, 502 for a response). Needs the
``lxml`` package.
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
MAX_INPUT_BYTES = 4 * 1024 * 1024
MAX_INPUT_NODES = 10_000
MAX_OUTPUT_BYTES = 16 * 1024 * 1024


class ExternalReference(Exception):
    """A stylesheet or body tried to load something by URL."""


def _parser(etree: Any) -> Any:
    class RefuseAll(etree.Resolver):  # type: ignore[misc,name-defined]
        def resolve(self, url: str, pubid: str, context: Any) -> Any:
            raise ExternalReference(f"loading {url!r} is not allowed")

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False)
    parser.resolvers.add(RefuseAll())
    return parser


def _compile(etree: Any, source: str) -> tuple[Any, str | None]:
    """The compiled stylesheet, or ``None`` and why not."""
    try:
        root = etree.fromstring(source.encode("utf-8"), _parser(etree))
    except etree.XMLSyntaxError as exc:
        return None, f"invalid stylesheet: {exc}"
    for kind in ("include", "import"):
        found = next(root.iter(f"{{{XSL_NS}}}{kind}"), None)
        if found is not None:
            return None, (f"<xsl:{kind} href={found.get('href', '')!r}> is not supported: "
                          "the stylesheet must be self-contained (nothing is loaded by URL)")
    try:
        return etree.XSLT(root, access_control=etree.XSLTAccessControl.DENY_ALL), None
    except ExternalReference as exc:
        return None, f"invalid stylesheet: {exc}"
    except etree.XSLTParseError as exc:
        return None, f"invalid stylesheet: {exc}"


def _nodes(doc: Any, limit: int) -> int:
    """Elements plus attributes of ``doc``, counting stops past ``limit``."""
    n = 0
    for el in doc.iter():
        n += 1 + len(el.attrib) if isinstance(el.tag, str) else 1
        if n > limit:
            break
    return n


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
    xslt, problem = _compile(etree, source)
    if problem is not None:
        c.problem(el, problem)
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
        content = message.Body.content or b""
        if len(content) > MAX_INPUT_BYTES:
            raise fail(f"the body is larger than {MAX_INPUT_BYTES} bytes")
        try:
            doc = etree.fromstring(content, _parser(etree))
        except etree.XMLSyntaxError as exc:
            raise fail(f"the body is not XML: {exc}") from None
        except ExternalReference as exc:
            raise fail(f"the body is not allowed: {exc}") from None
        if _nodes(doc, MAX_INPUT_NODES) > MAX_INPUT_NODES:
            raise fail(f"the body has more than {MAX_INPUT_NODES} XML elements and attributes")
        args = {n: etree.XSLT.strparam(to_text(get(ctx))) for n, get in params}
        try:
            result = xslt(doc, **args)
        except etree.XSLTApplyError as exc:
            raise fail(str(exc)) from None
        data = bytes(result)
        if len(data) > MAX_OUTPUT_BYTES:
            raise fail(f"the transformation's output is larger than {MAX_OUTPUT_BYTES} bytes")
        message.Body.content = data
        trace(ctx, f"xsl-transform: {len(message.Body.content)} bytes")
    return c.step(el, path, run, target="response" if response else "request")

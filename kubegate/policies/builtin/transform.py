"""find-and-replace, json-to-xml and xml-to-json: body transformations.

* find-and-replace: ``from``, ``to`` — every occurrence in the body (text).
* json-to-xml: ``apply`` (``always`` | ``content-type-json``, required),
  ``consider-accept-header`` (true), ``parse-date`` (true, accepted) — the JSON
  body becomes ``<Document>...</Document>``: object members are elements, arrays
  repeat their element, scalars are text.
* xml-to-json: ``kind`` (``javascript-friendly`` | ``direct``), ``apply``
  (``always`` | ``content-type-xml``), ``consider-accept-header`` (true) — the XML
  body becomes a JSON object keyed by the root's name; repeated children become
  arrays, attributes are ``@name`` members, text beside children is ``#text``.
XML is parsed with defusedxml. A body that does not parse goes to on-error
(Reason ``BodyConversionFailure``, status 400 for requests, 502 for responses)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml.ElementTree import ParseError, fromstring

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, targets_response, to_text


def _message(c: Compiler) -> Any:
    response = targets_response(c.section)
    if response:
        c.needs_response_body = True
    else:
        c.needs_request_body = True
    return (lambda ctx: ctx.Response) if response else (lambda ctx: ctx.Request)


@register("find-and-replace", summary="replace text in the body")
def compile_find_and_replace(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("from", "to"), required=("from", "to"))
    find, repl = evaluator(c.attr(el, "from", "")), evaluator(c.attr(el, "to", ""))  # type: ignore[arg-type]
    msg = _message(c)

    def run(ctx: Any) -> None:
        body = msg(ctx).Body
        old = to_text(find(ctx))
        if not old:
            return
        text = (body.content or b"").decode("utf-8", errors="replace")
        n = text.count(old)
        body.content = text.replace(old, to_text(repl(ctx))).encode("utf-8")
        trace(ctx, f"find-and-replace: {n} replacement(s)")
    return c.step(el, path, run)


def _fill(parent: Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _fill(parent, name, item)
        return
    child = SubElement(parent, _xml_name(name))
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(child, k, v)
    elif value is not None:
        child.text = json.dumps(value) if isinstance(value, bool) else str(value)


def _xml_name(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "_"
    return "_" + out if not (out[0].isalpha() or out[0] == "_") else out


def json_to_xml(data: bytes) -> bytes:
    value = json.loads(data or b"null")
    root = Element("Document")
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(root, k, v)
    elif isinstance(value, list):
        for item in value:
            _fill(root, "Array", item)
    elif value is not None:
        root.text = json.dumps(value) if isinstance(value, bool) else str(value)
    result: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return result


def _to_obj(el: Element) -> Any:
    out: dict[str, Any] = {f"@{k}": v for k, v in el.attrib.items()}
    for child in el:
        value = _to_obj(child)
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = prev + [value] if isinstance(prev, list) else [prev, value]
        else:
            out[child.tag] = value
    text = (el.text or "").strip()
    if not out:
        return text or None
    if text:
        out["#text"] = text
    return out


def xml_to_json(data: bytes) -> bytes:
    root = fromstring(data)
    return json.dumps({root.tag: _to_obj(root)}, ensure_ascii=False).encode("utf-8")


def _convert(el: PolicyElement, c: Compiler, path: str, kind: str, applies: str) -> Step:
    c.check_attrs(el, ("apply", "consider-accept-header", "parse-date", "kind",
                       "namespace-separator", "namespace-prefix", "attribute-block-name",
                       "always-array-child-elements"), required=("apply",))
    apply = c.const_choice(el, "apply", ("always", applies), "always")
    accept = c.const_bool(el, "consider-accept-header", True)
    c.const_bool(el, "parse-date", True)
    if kind == "xml-to-json":
        c.const_choice(el, "kind", ("javascript-friendly", "direct"), "javascript-friendly")
    msg = _message(c)
    response = targets_response(c.section)
    source, target = ("json", "xml") if kind == "json-to-xml" else ("xml", "json")
    convert = json_to_xml if kind == "json-to-xml" else xml_to_json
    new_type = f"application/{target}"

    def run(ctx: Any) -> None:
        m = msg(ctx)
        ctype = (m.Headers.get("Content-Type") or "").lower()
        if apply != "always" and source not in ctype:
            return
        if accept:
            wanted = (ctx.Request.Headers.get("Accept") or "").lower()
            if wanted and target not in wanted and "*/*" not in wanted:
                return
        try:
            m.Body.content = convert(m.Body.content or b"")
        except (ValueError, ParseError) as exc:
            raise PolicyFailure(502 if response else 400, "BodyConversionFailure",
                                f"{kind}: the body is not valid {source}: {exc}",
                                source=kind) from None
        m.Headers.set("Content-Type", new_type)
        trace(ctx, f"{kind}: converted")
    return c.step(el, path, run, apply=apply)


@register("json-to-xml", summary="convert a JSON body to XML")
def compile_json_to_xml(el: PolicyElement, c: Compiler, path: str) -> Step:
    return _convert(el, c, path, "json-to-xml", "content-type-json")


@register("xml-to-json", summary="convert an XML body to JSON")
def compile_xml_to_json(el: PolicyElement, c: Compiler, path: str) -> Step:
    return _convert(el, c, path, "xml-to-json", "content-type-xml")

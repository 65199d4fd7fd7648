"""validate-content: the size and body of a request (inbound) or response (outbound,
on-error) against the operation's schemas in the API's OpenAPI document, or a schema
named by ``schema-id`` (see ``_schemas``). APIM's attributes, actions and errors.

Per message: the body longer than ``max-size`` bytes is a ``SizeLimit`` finding
(``size-exceeded-action``). The content type (``Content-Type`` without parameters)
is mapped by ``<content-type-map>``: the first ``<type from|when to>`` that matches,
else ``missing-content-type-value`` when there is none, else
``any-content-type-value``. A mapped type the spec does not list for the request
body (or for the response's status) is an ``Unspecified`` finding
(``unspecified-content-type-action``); a ``<content>`` with a ``schema-id`` and this
``type`` counts as listing it. The body is then checked by the ``<content>`` whose
``type`` matches, else by a ``<content>`` without ``type`` when the spec lists the
type: ``validate-as="json"`` against the spec's schema for that media type (or the
``schema-id`` file), ``xml``/``soap`` against a ``schema-id`` XML schema (OpenAPI
documents have none). An empty body is not checked. Findings: see ``_validation``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.sources.openapi.model import ApiSpec, SpecOperation

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step
from . import _schemas
from ._util import bool_evaluator
from ._validation import (
    ActionFn,
    Finding,
    action,
    finish,
    match_media,
    media_type,
    response_of,
    spec_operation,
    variable_name,
    without_spec,
)

Checker = _schemas.Checker


def _ignore(ctx: Any) -> str:
    return "ignore"


@dataclass
class _Content:
    type: str | None
    validate_as: str
    act: ActionFn
    schema_id: str | None = None
    checker: Checker | None = None  # from schema-id
    usable: bool = True  # false: check mode accepted what cannot run (no schema, no package)
    by_media: dict[tuple[str, str], tuple[Checker | None, str | None]] = field(
        default_factory=dict)  # (status or "", media) -> (checker, definition name)


def _map(c: Compiler, el: PolicyElement) -> Callable[[Any, str], str]:
    """``<content-type-map>`` -> (ctx, content type) -> the type used for validation."""
    c.check_attrs(el, ("any-content-type-value", "missing-content-type-value"))
    c.check_children(el, ("type",))
    any_value = media_type(c.const(el, "any-content-type-value")) or None
    missing_value = media_type(c.const(el, "missing-content-type-value")) or None
    rules: list[tuple[str | None, Callable[[Any], bool] | None, str]] = []
    for t in el.children:
        if t.name != "type":
            continue
        c.check_attrs(t, ("from", "when", "to"), required=("to",))
        if ("from" in t.attributes) == ("when" in t.attributes):
            c.problem(t, "needs exactly one of 'from' or 'when'")
            continue
        to = media_type(c.const(t, "to", ""))
        if "from" in t.attributes:
            rules.append((media_type(c.const(t, "from", "")), None, to))
        else:
            rules.append((None, bool_evaluator(c.attr(t, "when"), "when"), to))  # type: ignore[arg-type]

    def mapped(ctx: Any, ct: str) -> str:
        for source, when, to in rules:
            if (source is not None and source == ct) or (when is not None and when(ctx)):
                return to
        if not ct and missing_value:
            return missing_value
        return any_value or ct
    return mapped


def _content(c: Compiler, el: PolicyElement, spec: ApiSpec | None, op: SpecOperation | None,
             response: bool) -> _Content | None:
    c.check_attrs(el, ("type", "validate-as", "schema-id", "schema-ref", "action",
                       "allow-additional-properties", "case-insensitive-property-names"),
                  required=("validate-as", "action"))
    c.check_children(el, ())
    kind = c.const_choice(el, "validate-as", ("json", "xml", "soap"), "json")
    act = action(c, el, "action") or _ignore
    ctype = media_type(c.const(el, "type")) or None
    schema_id, ref = c.const(el, "schema-id"), c.const(el, "schema-ref")
    additional = (c.const_bool(el, "allow-additional-properties", False)
                  if "allow-additional-properties" in el.attributes else None)
    lower = c.const_bool(el, "case-insensitive-property-names", False)
    out = _Content(ctype, kind, act, schema_id)
    if kind == "soap" and ctype not in (None, "application/soap+xml", "text/xml"):
        c.attr_problem(el, "type", "SOAP content is application/soap+xml (SOAP 1.2) or "
                                   "text/xml (SOAP 1.1)")
    if ref is not None and (schema_id is None or kind != "json"):
        c.attr_problem(el, "schema-ref", "needs schema-id and validate-as=\"json\" (XML schemas "
                                         "have no schema-ref)")
    if kind != "json" and schema_id is None:
        if not c.env.placeholder_named_values:
            c.attr_problem(el, "validate-as", f"{kind} validation needs schema-id (an XML schema "
                                              "in schemas/<id>.xsd): OpenAPI documents hold JSON "
                                              "schemas only")
        out.usable = False
        return out
    if kind != "json" and not _schemas.xml_available():
        if not c.env.placeholder_named_values:
            c.attr_problem(el, "validate-as", f"{kind} validation needs the 'xmlschema' package "
                                              "(pip install xmlschema)")
        out.usable = False
        return out
    if schema_id is not None:
        suffix = ".json" if kind == "json" else ".xsd"
        path = _schemas.schema_file(c.env.base_dir, schema_id, suffix)
        if path is None:
            if not c.env.placeholder_named_values:
                c.attr_problem(el, "schema-id", f"no schema file schemas/{schema_id}{suffix} "
                                                "beside the configuration")
            return out
        try:
            out.checker = (_schemas.file_json(path, ref, additional, lower) if kind == "json"
                           else _schemas.file_xsd(path, soap=kind == "soap"))
        except _schemas.SchemaProblem as exc:
            c.attr_problem(el, "schema-id", str(exc))
        return out
    if spec is None or op is None:
        return out
    messages = ([(r.status.upper(), r.content) for r in op.responses] if response
                else [("", op.request_body.content if op.request_body else {})])
    for status, content in messages:
        for media, schema in content.items():
            title = schema.get("title") if isinstance(schema, dict) else None
            checker = _schemas.spec_json(schema, spec.dialect, spec.defs, additional, lower)
            out.by_media[(status, media.lower())] = (checker, title if isinstance(title, str)
                                                     else None)
    return out


@register("validate-content", sections={"inbound", "outbound", "on-error"},
          summary="check the body against the OpenAPI spec or a schema")
def compile_validate_content(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("unspecified-content-type-action", "max-size", "size-exceeded-action",
                       "errors-variable-name"),
                  required=("unspecified-content-type-action", "max-size",
                            "size-exceeded-action"))
    c.check_children(el, ("content-type-map", "content"))
    unspecified = action(c, el, "unspecified-content-type-action") or _ignore
    size_action = action(c, el, "size-exceeded-action") or _ignore
    max_size = c.const_int(el, "max-size", None, minimum=0, maximum=2**62)
    variable = variable_name(c, el, "errors-variable-name")
    section = c.section
    response = section != "inbound"
    maps = [ch for ch in el.children if ch.name == "content-type-map"]
    if len(maps) > 1:
        c.problem(maps[1], "<content-type-map> may appear only once")
    mapped = _map(c, maps[0]) if maps else (lambda ctx, ct: ct)
    elements = [ch for ch in el.children if ch.name == "content"]
    needs_spec = not (elements and all("schema-id" in e.attributes for e in elements)
                      and el.attributes.get("unspecified-content-type-action") == "ignore")
    found = spec_operation(c, el) if needs_spec else None
    spec, op = found if found is not None else (c.env.openapi, c.env.openapi_operation)
    contents = [x for e in elements if (x := _content(c, e, spec, op, response)) is not None]
    if needs_spec and found is None or any(
            not x.usable or (x.schema_id and x.checker is None) for x in contents):
        return c.step(el, path, without_spec(el.name))
    if response:
        c.needs_response_body = True
    else:
        c.needs_request_body = True
    extra = {x.type for x in contents if x.schema_id and x.type}
    kind = "ResponseBody" if response else "RequestBody"
    noun = "response" if response else "request"

    def declared(ctx: Any) -> tuple[str, list[str]]:
        if op is None:
            return "", []
        if not response:
            return "", list(op.request_body.content) if op.request_body else []
        r = response_of(op, ctx.Response.StatusCode)
        return (r.status.upper(), list(r.content)) if r is not None else ("", [])

    def run(ctx: Any) -> object | None:
        message = ctx.Response if response else ctx.Request
        body: bytes = message.Body.content or b""
        raw = media_type(message.Headers.get("Content-Type"))
        findings: list[Finding] = []
        if max_size is not None and len(body) > max_size:
            findings.append(Finding(
                "", kind, "SizeLimit",
                f"{noun.capitalize()}'s body is {len(body)} bytes long and it exceeds the "
                f"configured limit of {max_size} bytes.",
                f"{noun.capitalize()}'s body is {len(body)} bytes long and it exceeds the limit "
                f"of {max_size} bytes.", size_action(ctx)))
        if body or raw:
            ct = mapped(ctx, raw)
            status, types = declared(ctx)
            listed = match_media(types, ct)
            if listed is None and ct not in extra:
                text = f"Unspecified content type {ct or '(none)'} is not allowed."
                findings.append(Finding(ct, kind, "Unspecified", text, text, unspecified(ctx)))
            chosen = next((x for x in contents if x.type == ct), None) or next(
                (x for x in contents if x.type is None and listed is not None), None)
            if chosen is not None and body:
                findings += _check_body(ctx, chosen, body, ct, status, listed, kind, noun)
        return finish(ctx, findings, variable, source="validate-content", section=section)
    return c.step(el, path, run, variable=variable, max_size=max_size)


def _check_body(ctx: Any, content: _Content, body: bytes, ct: str, status: str,
                listed: str | None, kind: str, noun: str) -> list[Finding]:
    act = content.act(ctx)
    if act == "ignore":
        return []
    checker, definition = content.checker, content.schema_id
    if checker is None:
        checker, definition = content.by_media.get((status, (listed or "").lower()), (None, None))
    if checker is None:
        return []
    errors = checker(body)
    if not errors:
        return []
    name = f" {definition}" if definition else ""
    text = (f"Body of the {noun} does not conform to the definition{name}, which is associated "
            f"with the content type {ct}. {' '.join(errors)}")
    return [Finding(ct, kind, "IncorrectMessage", text, text, act)]


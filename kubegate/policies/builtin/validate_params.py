"""validate-parameters: request headers, query and path parameters against the
operation's parameters in the API's OpenAPI document (APIM's attributes and errors).

``specified-parameter-action`` applies to parameters the spec describes: a value is
parsed as its schema's type (integer, number, boolean, array: repeated or
comma-separated, object: JSON) and checked against the schema; several values of a
non-array parameter, an unparsable value, a value outside the schema, and (kubegate)
a missing required parameter are findings. ``unspecified-parameter-action`` applies
to parameters the spec does not describe. ``<headers>``, ``<query>`` and ``<path>``
override both for their location, and their ``<parameter name action>`` children
override the action for one name. Headers that OpenAPI cannot describe as parameters
(``Accept``, ``Content-Type``, ``Authorization``) and the message's framing headers
(``Host``, ``Content-Length``, ``Connection``, ``Transfer-Encoding``, ...) are never
"unspecified" unless a ``<parameter>`` names them. Actions and errors: see
``_validation``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.sources.openapi.model import ApiSpec
from kubegate.sources.openapi.validate import compile_schema

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step
from ._validation import (
    ActionFn,
    Finding,
    action,
    finish,
    spec_operation,
    variable_name,
    without_spec,
)

REQUEST_EXEMPT = frozenset({
    "accept", "content-type", "authorization", "host", "content-length", "connection",
    "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
    "expect"})
LOCATIONS = {  # element -> (spec location, APIM Type, words used in messages)
    "headers": ("header", "RequestHeader", "header"),
    "query": ("query", "QueryParameter", "query parameter"),
    "path": ("path", "PathParameter", "path parameter"),
}


class ValueCheck:
    """One parameter's (or header's) schema, compiled once: string values -> a problem."""

    def __init__(self, schema: Any, spec: ApiSpec) -> None:
        self.schema: dict[str, Any] = schema if isinstance(schema, dict) else {}
        self.validator = compile_schema(schema, spec.dialect, spec.defs)
        self.is_array = _type(self.schema) == "array"

    def problem(self, values: list[str]) -> tuple[str, str] | None:
        """None when valid, else ("multiple" | "parse" | "conform", message)."""
        if len(values) > 1 and not self.is_array:
            return "multiple", ""
        try:
            if self.is_array:
                raw = values if len(values) > 1 else values[0].split(",")
                item = self.schema.get("items") or {}
                value: Any = [_parse(v, item) for v in raw]
            else:
                value = _parse(values[0], self.schema)
        except ValueError as exc:
            return "parse", str(exc)
        if self.validator is None:
            return None
        try:
            errors = sorted(self.validator.iter_errors(value), key=lambda e: list(e.path))
        except Exception:  # noqa: BLE001 - an unresolvable reference: not checkable
            return None
        if errors:
            return "conform", "; ".join(e.message for e in errors[:5])
        return None


def _ignore(ctx: Any) -> str:
    return "ignore"


def _type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _parse(value: str, schema: Any) -> Any:
    kind = _type(schema) if isinstance(schema, dict) else None
    if kind == "integer":
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not an integer.") from None
    if kind == "number":
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not a number.") from None
        if not math.isfinite(number):
            raise ValueError(f"'{value}' is not a number.")
        return number
    if kind == "boolean":
        if value.strip().lower() not in ("true", "false"):
            raise ValueError(f"'{value}' is not a boolean.")
        return value.strip().lower() == "true"
    if kind == "object":
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a JSON object.") from None
    return value


def value_findings(check: ValueCheck, values: list[str], name: str, kind: str, words: str,
                   act: str, response: bool = False) -> list[Finding]:
    """The findings for one described parameter or header (APIM's wording)."""
    found = check.problem(values)
    if found is None:
        return []
    rule, detail = found
    if rule == "multiple":
        text = (f"{'Response' if response else 'Request'} cannot contain multiple values for "
                f"the {words} {name}.")
        return [Finding(name, kind, "IncorrectMessage", text, text, act)]
    if rule == "parse":
        return [Finding(name, kind, "IncorrectMessage",
                        f"Value of the {words} {name} cannot be parsed according to the "
                        f"definition. {detail}",
                        f"Value of the {words} {name} couldn't be parsed according to the "
                        f"definition. {detail}", act)]
    return [Finding(name, kind, "IncorrectMessage",
                    f"Value of the {words} {name} does not conform to the definition. {detail}",
                    f"The value of the {words} {name} does not conform to the definition. "
                    f"{detail}", act)]


@dataclass(frozen=True)
class _Location:
    element: str
    specified: ActionFn
    unspecified: ActionFn
    overrides: Mapping[str, ActionFn]  # name (lower-case for headers) -> action
    described: Mapping[str, tuple[str, bool, ValueCheck]]  # key -> (name, required, check)


def _location(c: Compiler, el: PolicyElement, element: str, spec: ApiSpec | None,
              op_params: list[Any], top: tuple[ActionFn, ActionFn]) -> _Location:
    child = [ch for ch in el.children if ch.name == element]
    if len(child) > 1:
        c.problem(child[1], f"<{element}> may appear only once")
    specified, unspecified = top
    overrides: dict[str, ActionFn] = {}
    if child:
        ch = child[0]
        known = ("specified-parameter-action",) if element == "path" else \
            ("specified-parameter-action", "unspecified-parameter-action")
        c.check_attrs(ch, known)
        c.check_children(ch, ("parameter",))
        specified = action(c, ch, "specified-parameter-action") or specified
        if element != "path":
            unspecified = action(c, ch, "unspecified-parameter-action") or unspecified
        for p in ch.children:
            if p.name != "parameter":
                continue
            c.check_attrs(p, ("name", "action"), required=("name", "action"))
            name = c.const(p, "name", "") or ""
            act = action(c, p, "action")
            if name and act is not None:
                overrides[name.lower() if element == "headers" else name] = act
    where = LOCATIONS[element][0]
    described = {}
    if spec is not None:
        for param in op_params:
            if param.location == where:
                key = param.name.lower() if element == "headers" else param.name
                described[key] = (param.name, param.required, ValueCheck(param.schema, spec))
    return _Location(element, specified, unspecified, overrides, described)


def _request_values(ctx: Any, element: str) -> dict[str, tuple[str, list[str]]]:
    """key -> (name as sent, values) for one location of the request."""
    request = ctx.Request
    if element == "headers":
        headers = request.Headers
        return {n.lower(): (n, headers.get_all(n)) for n in headers.names()}
    if element == "query":
        query = request.Url.Query
        return {n: (n, list(query.values_of(n) or ())) for n in query.names()}
    return {n: (n, [v]) for n, v in request.MatchedParameters.items()}


def _check(ctx: Any, loc: _Location) -> list[Finding]:
    _, kind, words = LOCATIONS[loc.element]
    present = _request_values(ctx, loc.element)
    out: list[Finding] = []
    for key, (name, required, check) in loc.described.items():
        act = (loc.overrides.get(key) or loc.specified)(ctx)
        if act == "ignore":
            continue
        if key not in present:
            if required:
                text = f"Request does not contain the required {words} {name}."
                out.append(Finding(name, kind, "IncorrectMessage", text, text, act))
            continue
        out += value_findings(check, present[key][1], name, kind, words, act)
    for key, (name, _values) in present.items():
        if key in loc.described:
            continue
        override = loc.overrides.get(key)
        if override is None and loc.element == "headers" and key in REQUEST_EXEMPT:
            continue
        act = (override or loc.unspecified)(ctx)
        if act != "ignore":
            text = f"Unspecified {words} {name} is not allowed."
            out.append(Finding(name, kind, "Unspecified", text, text, act))
    return out


@register("validate-parameters", sections={"inbound"},
          summary="check request parameters against the OpenAPI spec")
def compile_validate_parameters(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("specified-parameter-action", "unspecified-parameter-action",
                       "errors-variable-name"),
                  required=("specified-parameter-action", "unspecified-parameter-action"))
    c.check_children(el, LOCATIONS)
    top = (action(c, el, "specified-parameter-action") or _ignore,
           action(c, el, "unspecified-parameter-action") or _ignore)
    variable = variable_name(c, el, "errors-variable-name")
    found = spec_operation(c, el)
    spec, op = found if found is not None else (None, None)
    locations = [_location(c, el, name, spec, op.parameters if op else [], top)
                 for name in LOCATIONS]
    if found is None:
        return c.step(el, path, without_spec(el.name))

    def run(ctx: Any) -> object | None:
        findings = [f for loc in locations for f in _check(ctx, loc)]
        return finish(ctx, findings, variable, source="validate-parameters", section="inbound")
    return c.step(el, path, run, variable=variable)

"""What the content-validation policies share (validate-content, -parameters, -headers,
-status-code, -odata-request): actions, APIM's error records, the operation's spec.

How it works: a policy collects ``Finding``s (APIM's validation error: Name, Type,
ValidationRule, Details, Action) while it checks a message, then ``finish`` applies
the actions: ``ignore`` findings are dropped; ``detect`` and ``prevent`` findings are
traced and appended to the errors variable (a JArray of JObjects); the first
``prevent`` finding ends processing — 400 with its public message for a request
(inbound), 502 with APIM's generic message for a response (outbound, on-error), the
details in ``context.LastError.Message``. Inside on-error the error response is set
and on-error stops (an exception there would turn into a 500).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.sources.apim.expressions import ExpressionError, cs_str
from kubegate.sources.apim.expressions.runtime import to_jtoken
from kubegate.sources.openapi.model import ApiSpec, SpecOperation, SpecResponse

from ..compiler import Compiler
from ..context import Response
from ..errors import STOP, PolicyFailure
from ..runtime import trace
from ._util import targets_response

ACTIONS = ("ignore", "prevent", "detect")
INTERNAL = "The request could not be processed due to an internal error. Contact the API owner."
NO_SCHEMA = "API's schema does not exist or it could not be resolved."
ActionFn = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class Finding:
    """One APIM validation error; ``public`` is what a prevented request's caller sees."""

    name: str
    type: str
    rule: str
    details: str
    public: str
    action: str

    def record(self) -> dict[str, str]:
        return {"Name": self.name, "Type": self.type, "ValidationRule": self.rule,
                "Details": self.details, "Action": self.action}


def action(c: Compiler, el: PolicyElement, attr: str, default: str | None = None
           ) -> ActionFn | None:
    """``ignore | prevent | detect`` from ``attr`` (a constant, or an expression checked
    per request); ``default`` when the attribute is absent (None: no action given)."""
    raw = el.attributes.get(attr)
    if raw is None:
        return None if default is None else (lambda ctx: default)
    expr = c.value(el, raw, attr)
    if expr.is_constant:
        value = cs_str(expr.value).strip().lower()
        if value not in ACTIONS:
            c.attr_problem(el, attr, f"expected one of {', '.join(ACTIONS)}, got {raw!r}")
            value = "ignore"
        return lambda ctx: value

    def run(ctx: Any) -> str:
        value = cs_str(expr(ctx)).strip().lower()
        if value not in ACTIONS:
            raise ExpressionError(f"{el.name} {attr} must be one of {', '.join(ACTIONS)}, "
                                  f"got {value!r}")
        return value
    return run


def variable_name(c: Compiler, el: PolicyElement, *names: str) -> str | None:
    """The errors variable; the first of ``names`` is APIM's documented spelling, the
    others are accepted aliases (at most one may be given)."""
    given = [n for n in names if n in el.attributes]
    if len(given) > 1:
        c.problem(el, f"give only one of {', '.join(given)}")
    return c.const(el, given[0]) if given else None


def spec_operation(c: Compiler, el: PolicyElement) -> tuple[ApiSpec, SpecOperation] | None:
    """The API's spec and this operation in it; a compile problem when there is none
    (except in check mode, where only the document's structure is checked)."""
    env = c.env
    api = f"API {env.api_id!r}" if env.api_id else "this API"
    if env.openapi is None:
        if not env.placeholder_named_values:
            c.problem(el, f"needs the API's OpenAPI document, and {api} has none (set "
                          "`openapi:` on the API; APIM too validates against the API's schema)")
        return None
    if env.openapi_operation is None:
        if not env.placeholder_named_values:
            c.problem(el, f"operation {env.operation_id!r} is not in {api}'s OpenAPI document, "
                          "so there is nothing to validate against")
        return None
    return env.openapi, env.openapi_operation


def without_spec(name: str) -> Callable[[Any], Any]:
    """Run-time body of a policy compiled in check mode without a spec: APIM's ApiSchema
    error (kubegate policy run shows it; the gateway never compiles this)."""
    def run(ctx: Any) -> None:
        raise PolicyFailure(500, "ApiSchema", NO_SCHEMA, body=_body(500, INTERNAL), source=name)
    return run


def response_of(op: SpecOperation, status: int, default: bool = True) -> SpecResponse | None:
    """The spec's response for ``status``: the exact code, else ``2XX``-style, else
    ``default`` (when ``default`` is true)."""
    code, family = str(status), f"{str(status)[:1]}XX"
    by_status = {r.status.upper(): r for r in op.responses}
    found = by_status.get(code) or by_status.get(family)
    return found or (by_status.get("DEFAULT") if default else None)


def media_type(value: str | None) -> str:
    """``Content-Type`` without parameters, lower-case ("" when absent)."""
    return (value or "").split(";", 1)[0].strip().lower()


def match_media(declared: Iterable[str], wanted: str) -> str | None:
    """The declared media type (as written) covering ``wanted``: exact, ``type/*``, ``*/*``."""
    types = {d.lower(): d for d in declared}
    if wanted in types:
        return types[wanted]
    major = wanted.split("/", 1)[0]
    return types.get(f"{major}/*") or types.get("*/*")


def _body(status: int, message: str) -> bytes:
    return json.dumps({"statusCode": status, "message": message}).encode()


def finish(ctx: Any, findings: Sequence[Finding], variable: str | None, *, source: str,
           section: str) -> object | None:
    """Apply the actions of ``findings`` (see the module docstring)."""
    logged = [f for f in findings if f.action != "ignore"]
    if not logged:
        return None
    for f in logged:
        trace(ctx, f"{source}: {f.action}: {f.details}")
    if variable:
        records = to_jtoken([f.record() for f in logged])
        current = ctx.Variables.get(variable)
        if isinstance(current, list):
            current.extend(records)
        else:
            ctx.Variables[variable] = records
    stop = next((f for f in logged if f.action == "prevent"), None)
    if stop is None:
        return None
    response = targets_response(section)
    status, reason = (502, "Response not allowed") if response else (400, "Bad request")
    public = INTERNAL if response else stop.public
    if section == "on-error":
        ctx.Response = Response(status, "Bad Gateway", [("Content-Type", "application/json")],
                                _body(status, public))
        return STOP
    raise PolicyFailure(status, reason, stop.details, body=_body(status, public), source=source)

"""validate-headers and validate-status-code: the backend's response against the
operation's responses in the API's OpenAPI document (APIM's attributes and errors).

The response the spec describes for a status is the exact code, else its range
(``2XX``), else ``default``. validate-headers checks each header that response
describes with ``specified-header-action`` (as validate-parameters checks values) and
every other header with ``unspecified-header-action``; ``<header name action>``
overrides one name. ``Content-Type`` (described by the response's content map) and
framing headers (``Content-Length``, ``Transfer-Encoding``, ``Connection``, ...) are
never "unspecified" unless a ``<header>`` names them. validate-status-code applies
``unspecified-status-code-action`` to a status the spec does not describe (by its
code or range: a ``default`` response describes no status, as APIM keeps numbered
responses only);
``<status-code code action>`` overrides that for one code (never for a described
one). Findings end in 502 under ``prevent`` (see ``_validation``).
"""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step
from ._validation import (
    ActionFn,
    Finding,
    action,
    finish,
    response_of,
    spec_operation,
    variable_name,
    without_spec,
)
from .validate_params import ValueCheck, value_findings

RESPONSE_SECTIONS = {"outbound", "on-error"}
RESPONSE_EXEMPT = frozenset({
    "content-type", "content-length", "connection", "keep-alive", "transfer-encoding",
    "te", "trailer", "upgrade", "proxy-connection"})


def _ignore(ctx: Any) -> str:
    return "ignore"


@register("validate-headers", sections=RESPONSE_SECTIONS,
          summary="check response headers against the OpenAPI spec")
def compile_validate_headers(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("specified-header-action", "unspecified-header-action",
                       "errors-variable-name"),
                  required=("specified-header-action", "unspecified-header-action"))
    c.check_children(el, ("header",))
    specified = action(c, el, "specified-header-action") or _ignore
    unspecified = action(c, el, "unspecified-header-action") or _ignore
    variable = variable_name(c, el, "errors-variable-name")
    overrides: dict[str, ActionFn] = {}
    for h in el.children:
        if h.name == "header":
            c.check_attrs(h, ("name", "action"), required=("name", "action"))
            name, act = c.const(h, "name", "") or "", action(c, h, "action")
            if name and act is not None:
                overrides[name.lower()] = act
    found = spec_operation(c, el)
    if found is None:
        return c.step(el, path, without_spec(el.name))
    spec, op = found
    described = {r.status.upper(): {n.lower(): (n, ValueCheck(s, spec))
                                    for n, s in r.headers.items()} for r in op.responses}
    section = c.section

    def run(ctx: Any) -> object | None:
        response = ctx.Response
        spec_response = response_of(op, response.StatusCode)
        headers = described.get(spec_response.status.upper(), {}) if spec_response else {}
        findings: list[Finding] = []
        for key, (name, check) in headers.items():
            values = response.Headers.get_all(name)
            act = (overrides.get(key) or specified)(ctx)
            if values and act != "ignore":
                findings += value_findings(check, values, name, "ResponseHeader", "header", act,
                                           response=True)
        for name in response.Headers.names():
            key = name.lower()
            if key in headers or (key in RESPONSE_EXEMPT and key not in overrides):
                continue
            act = (overrides.get(key) or unspecified)(ctx)
            if act != "ignore":
                text = f"Unspecified header {name} is not allowed."
                findings.append(Finding(name, "ResponseHeader", "Unspecified", text, text, act))
        return finish(ctx, findings, variable, source="validate-headers", section=section)
    return c.step(el, path, run, variable=variable)


@register("validate-status-code", sections=RESPONSE_SECTIONS,
          summary="check the response status against the OpenAPI spec")
def compile_validate_status_code(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("unspecified-status-code-action", "errors-variable-name",
                       "error-variable-name"), required=("unspecified-status-code-action",))
    c.check_children(el, ("status-code",))
    unspecified = action(c, el, "unspecified-status-code-action") or _ignore
    variable = variable_name(c, el, "errors-variable-name", "error-variable-name")
    overrides: dict[int, ActionFn] = {}
    for s in el.children:
        if s.name == "status-code":
            c.check_attrs(s, ("code", "action"), required=("code", "action"))
            code, act = c.const_int(s, "code", None, minimum=100, maximum=599), action(c, s, "action")
            if code is not None and act is not None:
                overrides[code] = act
    found = spec_operation(c, el)
    if found is None:
        return c.step(el, path, without_spec(el.name))
    op = found[1]
    section = c.section

    def run(ctx: Any) -> object | None:
        status = ctx.Response.StatusCode
        if response_of(op, status, default=False) is not None:
            return None
        act = (overrides.get(status) or unspecified)(ctx)
        text = f"Response status code {status} is not allowed."
        return finish(ctx, [Finding(str(status), "StatusCode", "Unspecified", text, text, act)],
                      variable, source="validate-status-code", section=section)
    return c.step(el, path, run, variable=variable)

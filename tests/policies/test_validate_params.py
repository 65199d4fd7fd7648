"""validate-parameters, validate-headers and validate-status-code through the pipeline,
against an imported OpenAPI document (3.0 and Swagger 2.0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.compiler import CompileEnv
from kubegate.sources.openapi import load_spec

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

SPEC = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
    "/orders/{id}": {"get": {
        "operationId": "get-order",
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
            {"name": "tags", "in": "query", "schema": {"type": "array", "maxItems": 2,
                                                       "items": {"type": "string"}}},
            {"name": "X-Tenant", "in": "header", "required": True,
             "schema": {"type": "string", "pattern": "^[a-z]+$"}}],
        "responses": {
            "200": {"description": "ok", "headers": {
                "X-Rate": {"schema": {"type": "integer", "maximum": 100}}}},
            "4XX": {"description": "client error"},
            "default": {"description": "error"}}}}}}
SWAGGER = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "produces": ["text/plain"],
           "paths": {"/x": {"get": {"responses": {"201": {
               "description": "ok", "schema": {"type": "string"},
               "headers": {"X-Count": {"type": "integer", "minimum": 0}}}}}}}}


def env_for(tmp_path: Path, spec: dict[str, Any] = SPEC) -> CompileEnv:
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    api = load_spec(str(tmp_path / "spec.json"))
    return CompileEnv(openapi=api, openapi_operation=api.operations[0], api_id="orders",
                      operation_id=api.operations[0].id)


def params(specified: str = "prevent", unspecified: str = "prevent", inner: str = "") -> str:
    return doc(inbound=f'<validate-parameters specified-parameter-action="{specified}" '
                       f'unspecified-parameter-action="{unspecified}" '
                       f'errors-variable-name="errs">{inner}</validate-parameters>')


def get(query: str = "", headers: list[tuple[str, str]] | None = None,
        id_: str = "1") -> Any:
    base = [("X-Tenant", "acme"), ("Host", "gw"), ("Accept", "*/*")]
    return make_ctx("GET", f"/api/orders/{id_}", query=query,
                    headers=base if headers is None else headers, matched={"id": id_})


def message(ctx: Any) -> str:
    return str(json.loads(ctx.Response.Body.content or b"{}")["message"])


async def test_valid_parameters_pass(tmp_path: Path) -> None:
    ctx, backend = await run(params(), get("verbose=TRUE&tags=a,b"), env=env_for(tmp_path))
    assert len(backend.calls) == 1 and "errs" not in ctx.Variables
    _, backend = await run(params(), get("tags=a&tags=b"), env=env_for(tmp_path))
    assert len(backend.calls) == 1


@pytest.mark.parametrize(("ctx", "text"), [
    (get(id_="abc"), "Value of the path parameter id couldn't be parsed according to the "
                     "definition. 'abc' is not an integer."),
    (get("verbose=maybe"), "Value of the query parameter verbose couldn't be parsed according "
                           "to the definition. 'maybe' is not a boolean."),
    (get("verbose=true&verbose=false"), "Request cannot contain multiple values for the query "
                                        "parameter verbose."),
    (get("tags=a,b,c"), "The value of the query parameter tags does not conform to the "
                        "definition. ['a', 'b', 'c'] is too long"),
    (get(headers=[("X-Tenant", "ACME")]), "The value of the header X-Tenant does not conform to "
                                          "the definition. 'ACME' does not match '^[a-z]+$'"),
    (get(headers=[]), "Request does not contain the required header X-Tenant."),
    (get("debug=1"), "Unspecified query parameter debug is not allowed."),
    (get(headers=[("X-Tenant", "a"), ("X-Debug", "1")]), "Unspecified header X-Debug is not "
                                                         "allowed."),
])
async def test_prevented(tmp_path: Path, ctx: Any, text: str) -> None:
    ctx, backend = await run(params(), ctx, env=env_for(tmp_path))
    assert backend.calls == [] and ctx.Response.StatusCode == 400
    assert message(ctx) == text
    assert err(ctx).Reason == "Bad request" and err(ctx).Source == "validate-parameters"
    assert ctx.Variables["errs"][0]["Action"] == "prevent"


async def test_framing_and_auth_headers_are_never_unspecified(tmp_path: Path) -> None:
    ctx = get(headers=[("X-Tenant", "a"), ("Host", "gw"), ("Content-Length", "0"),
                       ("Authorization", "Bearer x"), ("Accept", "*/*")])
    _, backend = await run(params(), ctx, env=env_for(tmp_path))
    assert len(backend.calls) == 1
    ctx, _ = await run(params(), get(headers=[("X-Tenant", "a"), ("User-Agent", "curl")]),
                       env=env_for(tmp_path))
    assert message(ctx) == "Unspecified header User-Agent is not allowed."  # as in APIM
    named = params(inner='<headers><parameter name="authorization" action="prevent" /></headers>')
    ctx, _ = await run(named, get(headers=[("X-Tenant", "a"), ("Authorization", "x")]),
                       env=env_for(tmp_path))
    assert message(ctx) == "Unspecified header Authorization is not allowed."


async def test_location_and_parameter_overrides(tmp_path: Path) -> None:
    inner = ('<headers specified-parameter-action="ignore" unspecified-parameter-action="detect">'
             '<parameter name="x-block" action="prevent" /></headers>'
             '<query><parameter name="debug" action="ignore" />'
             '<parameter name="verbose" action="detect" /></query>')
    xml = params(inner=inner)
    ctx = get("debug=1&verbose=x", [("X-Tenant", "UPPER"), ("X-Extra", "1")])
    ctx, backend = await run(xml, ctx, env=env_for(tmp_path))
    assert len(backend.calls) == 1
    found = {(e["Name"], e["ValidationRule"], e["Action"]) for e in ctx.Variables["errs"]}
    assert found == {("verbose", "IncorrectMessage", "detect"),
                     ("X-Extra", "Unspecified", "detect")}
    ctx, backend = await run(xml, get(headers=[("X-Tenant", "a"), ("X-Block", "1")]),
                             env=env_for(tmp_path))
    assert backend.calls == [] and message(ctx) == "Unspecified header X-Block is not allowed."
    path_only = params(inner='<path specified-parameter-action="detect" />')
    ctx, backend = await run(path_only, get(id_="x"), env=env_for(tmp_path))
    assert len(backend.calls) == 1 and ctx.Variables["errs"][0]["Type"] == "PathParameter"


async def test_actions_may_be_expressions(tmp_path: Path) -> None:
    xml = params(specified='@(context.Request.Headers.GetValueOrDefault("X-Mode", "ignore"))',
                 unspecified="ignore")
    _, backend = await run(xml, get("verbose=x"), env=env_for(tmp_path))
    assert len(backend.calls) == 1
    ctx = get("verbose=x", [("X-Tenant", "a"), ("X-Mode", "prevent")])
    ctx, backend = await run(xml, ctx, env=env_for(tmp_path))
    assert backend.calls == [] and ctx.Response.StatusCode == 400
    ctx, _ = await run(xml, get("verbose=x", [("X-Tenant", "a"), ("X-Mode", "block")]),
                       env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 500 and "must be one of" in err(ctx).Message


def test_parameters_compile_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the API's OpenAPI document"):
        pipeline(params())
    with pytest.raises(ConfigError, match="missing required attribute 'unspecified"):
        pipeline(doc(inbound='<validate-parameters specified-parameter-action="ignore" />'),
                 env_for(tmp_path))
    with pytest.raises(ConfigError, match="'unspecified-parameter-action': unsupported"):
        pipeline(params(inner='<path unspecified-parameter-action="ignore" />'), env_for(tmp_path))
    with pytest.raises(ConfigError, match="not allowed in <outbound>"):
        pipeline(doc(outbound='<validate-parameters specified-parameter-action="ignore" '
                              'unspecified-parameter-action="ignore" />'), env_for(tmp_path))


# -- validate-headers --------------------------------------------------------------------
def headers_policy(specified: str = "prevent", unspecified: str = "prevent",
                   inner: str = "") -> str:
    return doc(outbound=f'<validate-headers specified-header-action="{specified}" '
                        f'unspecified-header-action="{unspecified}" '
                        f'errors-variable-name="errs">{inner}</validate-headers>')


async def test_response_headers(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    ok = FakeBackend(headers=[("X-Rate", "5"), ("Content-Type", "text/plain"),
                              ("Content-Length", "7")])
    ctx, _ = await run(headers_policy(), get(), backend=ok, env=env)
    assert ctx.Response.StatusCode == 200
    ctx, _ = await run(headers_policy(), get(), backend=FakeBackend(headers=[("X-Rate", "500")]),
                       env=env)
    assert ctx.Response.StatusCode == 502 and err(ctx).Reason == "Response not allowed"
    assert err(ctx).Message.startswith("Value of the header X-Rate does not conform")
    assert message(ctx) == ("The request could not be processed due to an internal error. "
                            "Contact the API owner.")
    ctx, _ = await run(headers_policy(), get(),
                       backend=FakeBackend(headers=[("X-Rate", "1"), ("X-Rate", "2")]), env=env)
    assert err(ctx).Message == "Response cannot contain multiple values for the header X-Rate."
    leaky = FakeBackend(headers=[("X-Powered-By", "asp.net")])
    ctx, _ = await run(headers_policy(), get(), backend=leaky, env=env)
    assert err(ctx).Message == "Unspecified header X-Powered-By is not allowed."
    ignore_it = headers_policy(inner='<header name="x-powered-by" action="ignore" />')
    ctx, _ = await run(ignore_it, get(), backend=leaky, env=env)
    assert ctx.Response.StatusCode == 200
    detect = headers_policy(unspecified="detect")
    ctx, _ = await run(detect, get(), backend=leaky, env=env)
    assert ctx.Response.StatusCode == 200 and ctx.Variables["errs"][0]["Type"] == "ResponseHeader"
    # a status the spec describes without headers: every header is unspecified
    ctx, _ = await run(headers_policy(), get(), backend=FakeBackend(
        status=404, headers=[("X-Rate", "1")]), env=env)
    assert err(ctx).Message == "Unspecified header X-Rate is not allowed."


async def test_swagger2_response_headers(tmp_path: Path) -> None:
    env = env_for(tmp_path, SWAGGER)
    xml = headers_policy(unspecified="ignore")
    ctx, _ = await run(xml, get(), backend=FakeBackend(201, headers=[("X-Count", "-1")]), env=env)
    assert ctx.Response.StatusCode == 502 and "-1 is less than the minimum of 0" in err(ctx).Message


# -- validate-status-code ----------------------------------------------------------------
async def test_status_codes(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    xml = doc(outbound='<validate-status-code unspecified-status-code-action="prevent" '
                       'errors-variable-name="errs"><status-code code="503" action="detect" />'
                       '</validate-status-code>')
    for status in (200, 404, 418):  # exact, then 4XX
        ctx, _ = await run(xml, get(), backend=FakeBackend(status), env=env)
        assert ctx.Response.StatusCode == status
    ctx, _ = await run(xml, get(), backend=FakeBackend(500, body=b"stack trace"), env=env)
    assert ctx.Response.StatusCode == 502 and b"stack trace" not in (ctx.Response.Body.content or b"")
    assert err(ctx).Message == "Response status code 500 is not allowed."
    assert ctx.Variables["errs"][0]["Type"] == "StatusCode"
    ctx, _ = await run(xml, get(), backend=FakeBackend(503), env=env)
    assert ctx.Response.StatusCode == 503 and ctx.Variables["errs"][0]["Action"] == "detect"


async def test_status_code_alias_and_on_error(tmp_path: Path) -> None:
    xml = doc(inbound='<set-variable name="x" value="@(1/0)" />',
              on_error='<validate-status-code unspecified-status-code-action="prevent" '
                       'error-variable-name="e" /><set-status code="599" />')
    ctx, _ = await run(xml, get(), env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 502 and ctx.Variables["e"][0]["Name"] == "500"
    with pytest.raises(ConfigError, match="give only one of"):
        pipeline(doc(outbound='<validate-status-code unspecified-status-code-action="ignore" '
                              'error-variable-name="a" errors-variable-name="b" />'),
                 env_for(tmp_path))


async def test_check_mode_compiles_without_spec() -> None:
    env = CompileEnv(placeholder_named_values=True)
    for xml in (params(), headers_policy(),
                doc(outbound='<validate-status-code unspecified-status-code-action="ignore" />')):
        ctx, _ = await run(xml, get(), env=env)
        assert ctx.Response.StatusCode == 500 and err(ctx).Reason == "ApiSchema"

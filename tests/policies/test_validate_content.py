"""validate-content through the pipeline, against an imported OpenAPI document and
schema-id files; plus what needs a spec and what check mode accepts."""

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

ORDER = {"type": "object", "required": ["name"], "additionalProperties": False,
         "properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}
SPEC = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
    "/orders/{id}": {"put": {
        "operationId": "put-order",
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "requestBody": {"content": {"application/json": {"schema": ORDER},
                                    "text/csv": {}}},
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {
                "type": "object", "required": ["id"],
                "properties": {"id": {"type": "integer"}}}}}},
            "default": {"description": "error"}}}}}}


def env_for(tmp_path: Path, spec: dict[str, Any] = SPEC, **kw: Any) -> CompileEnv:
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    api = load_spec(str(tmp_path / "spec.json"))
    return CompileEnv(base_dir=tmp_path, openapi=api, openapi_operation=api.operations[0],
                      api_id="orders", operation_id=api.operations[0].id, **kw)


def policy(content: str = '<content type="application/json" validate-as="json" '
                          'action="prevent" />', *, max_size: int = 1000,
           unspecified: str = "prevent", size: str = "prevent", where: str = "inbound",
           extra: str = "") -> str:
    el = (f'<validate-content unspecified-content-type-action="{unspecified}" '
          f'max-size="{max_size}" size-exceeded-action="{size}" errors-variable-name="errs">'
          f'{extra}{content}</validate-content>')
    return doc(**{"inbound" if where == "inbound" else "outbound": el})


def put(body: bytes, ctype: str | None = "application/json") -> Any:
    headers = [("Content-Type", ctype)] if ctype else []
    return make_ctx("PUT", "/api/orders/1", headers=headers, body=body, matched={"id": "1"})


def message(ctx: Any) -> str:
    return str(json.loads(ctx.Response.Body.content or b"{}")["message"])


async def test_a_valid_body_is_forwarded(tmp_path: Path) -> None:
    ctx, backend = await run(policy(), put(b'{"name": "pen", "qty": 2}'), env=env_for(tmp_path))
    assert len(backend.calls) == 1 and ctx.Response.StatusCode == 200
    assert "errs" not in ctx.Variables


async def test_prevent_answers_400_with_apims_error(tmp_path: Path) -> None:
    ctx, backend = await run(policy(), put(b'{"qty": 0}'), env=env_for(tmp_path))
    assert backend.calls == [] and ctx.Response.StatusCode == 400
    assert message(ctx).startswith("Body of the request does not conform to the definition, "
                                   "which is associated with the content type application/json.")
    assert "'name' is a required property" in message(ctx)
    assert err(ctx).Reason == "Bad request" and err(ctx).Source == "validate-content"
    [record] = ctx.Variables["errs"]
    assert (record["Name"], record["Type"], record["ValidationRule"], record["Action"]) == (
        "application/json", "RequestBody", "IncorrectMessage", "prevent")


async def test_invalid_json_names_line_and_position(tmp_path: Path) -> None:
    ctx, _ = await run(policy(), put(b'{\n "name": }'), env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 400 and "Line: 2, Position: 10" in message(ctx)


async def test_detect_logs_and_goes_on(tmp_path: Path) -> None:
    xml = policy('<content type="application/json" validate-as="json" action="detect" />')
    ctx, backend = await run(xml, put(b'{"name": 5}'), env=env_for(tmp_path))
    assert len(backend.calls) == 1 and ctx.Response.StatusCode == 200
    assert ctx.Variables["errs"][0]["Action"] == "detect"
    assert "5 is not of type 'string' Path: '$.name'" in ctx.Variables["errs"][0]["Details"]


async def test_ignore_skips_the_body(tmp_path: Path) -> None:
    xml = policy('<content type="application/json" validate-as="json" action="ignore" />')
    _, backend = await run(xml, put(b'{"name": 5}'), env=env_for(tmp_path))
    assert len(backend.calls) == 1


async def test_size_limit(tmp_path: Path) -> None:
    ctx, backend = await run(policy(max_size=10), put(b'{"name": "pen"}'), env=env_for(tmp_path))
    assert backend.calls == [] and ctx.Response.StatusCode == 400
    assert message(ctx) == "Request's body is 15 bytes long and it exceeds the limit of 10 bytes."
    assert "configured limit" in err(ctx).Message
    ctx, backend = await run(policy(max_size=10, size="detect"), put(b'{"name": "pen"}'),
                             env=env_for(tmp_path))
    assert len(backend.calls) == 1 and ctx.Variables["errs"][0]["ValidationRule"] == "SizeLimit"


async def test_unspecified_content_type(tmp_path: Path) -> None:
    ctx, backend = await run(policy(), put(b"hello", "text/plain"), env=env_for(tmp_path))
    assert backend.calls == [] and message(ctx) == \
        "Unspecified content type text/plain is not allowed."
    _, backend = await run(policy(), put(b"a,b", "text/csv"), env=env_for(tmp_path))
    assert len(backend.calls) == 1  # listed in the spec, no <content> for it
    _, backend = await run(policy(unspecified="ignore"), put(b"hello", "text/plain"),
                           env=env_for(tmp_path))
    assert len(backend.calls) == 1


async def test_a_get_without_body_is_not_checked(tmp_path: Path) -> None:
    _, backend = await run(policy(), make_ctx("PUT", body=b""), env=env_for(tmp_path))
    assert len(backend.calls) == 1


async def test_content_type_map(tmp_path: Path) -> None:
    mapping = ('<content-type-map missing-content-type-value="application/json">'
               '<type from="application/hal+json" to="application/json" />'
               '<type when="@(context.Request.Headers.GetValueOrDefault(&quot;X-Json&quot;, '
               '&quot;&quot;) == &quot;1&quot;)" to="application/json" /></content-type-map>')
    xml = policy(extra=mapping)
    env = env_for(tmp_path)
    for ctx in (put(b'{"qty": 1}', "application/hal+json; charset=utf-8"), put(b'{"qty": 1}', None)):
        ctx, backend = await run(xml, ctx, env=env)
        assert backend.calls == [] and "'name' is a required property" in message(ctx)
    by_header = put(b'{"qty": 1}', "text/plain")
    by_header.Request.Headers.set("X-Json", "1")
    ctx, _ = await run(xml, by_header, env=env)
    assert "'name' is a required property" in message(ctx)
    any_type = policy(extra='<content-type-map any-content-type-value="application/json" />')
    ctx, _ = await run(any_type, put(b'{"qty": 1}', "text/plain"), env=env)
    assert "'name' is a required property" in message(ctx)


async def test_content_without_type_covers_the_specs_types(tmp_path: Path) -> None:
    xml = policy('<content validate-as="json" action="prevent" />')
    ctx, _ = await run(xml, put(b'{"qty": 1}'), env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 400


async def test_allow_additional_properties_overrides_the_schema(tmp_path: Path) -> None:
    body = b'{"name": "pen", "colour": "red"}'
    ctx, _ = await run(policy(), put(body), env=env_for(tmp_path))
    assert "Additional properties are not allowed" in message(ctx)
    allow = policy('<content type="application/json" validate-as="json" action="prevent" '
                   'allow-additional-properties="true" />')
    _, backend = await run(allow, put(body), env=env_for(tmp_path))
    assert len(backend.calls) == 1
    open_spec = json.loads(json.dumps(SPEC).replace('"additionalProperties": false, ', ""))
    _, backend = await run(policy(), put(body), env=env_for(tmp_path, open_spec))
    assert len(backend.calls) == 1
    deny = allow.replace('allow-additional-properties="true"', 'allow-additional-properties="false"')
    ctx, _ = await run(deny, put(body), env=env_for(tmp_path, open_spec))
    assert ctx.Response.StatusCode == 400


async def test_case_insensitive_property_names(tmp_path: Path) -> None:
    xml = policy('<content type="application/json" validate-as="json" action="prevent" '
                 'case-insensitive-property-names="true" />')
    _, backend = await run(xml, put(b'{"NAME": "pen"}'), env=env_for(tmp_path))
    assert len(backend.calls) == 1
    ctx, _ = await run(policy(), put(b'{"NAME": "pen"}'), env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 400


async def test_response_body_is_checked_in_outbound(tmp_path: Path) -> None:
    xml = policy(where="outbound")
    good = FakeBackend(body=b'{"id": 7}', headers=[("Content-Type", "application/json")])
    ctx, _ = await run(xml, put(b"{}"), backend=good, env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 200
    bad = FakeBackend(body=b'{"id": "x"}', headers=[("Content-Type", "application/json")])
    ctx, _ = await run(xml, put(b"{}"), backend=bad, env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 502 and message(ctx) == (
        "The request could not be processed due to an internal error. Contact the API owner.")
    assert err(ctx).Reason == "Response not allowed"
    assert "Body of the response does not conform" in err(ctx).Message
    other = FakeBackend(status=500, body=b"oops", headers=[("Content-Type", "text/plain")])
    ctx, _ = await run(xml, put(b"{}"), backend=other, env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 502  # default response lists no content types


async def test_on_error_sets_502_and_stops(tmp_path: Path) -> None:
    xml = doc(inbound='<set-variable name="x" value="@(1/0)" />',
              on_error='<set-body>oops</set-body><set-header name="Content-Type" '
                       'exists-action="override"><value>text/plain</value></set-header>'
                       '<validate-content unspecified-content-type-action="prevent" '
                       'max-size="100" size-exceeded-action="prevent" />'
                       '<set-status code="418" />')
    ctx, _ = await run(xml, put(b"{}"), env=env_for(tmp_path))
    assert ctx.Response.StatusCode == 502  # set-status after it did not run


async def test_schema_id_json_file_with_schema_ref(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "shapes.json").write_text(json.dumps({
        "definitions": {"point": {"type": "object", "required": ["x"],
                                  "properties": {"x": {"$ref": "#/definitions/num"}}},
                        "num": {"type": "number"}}}))
    xml = policy('<content type="application/vnd.point+json" validate-as="json" '
                 'schema-id="shapes" schema-ref="#/definitions/point" action="prevent" />')
    env = env_for(tmp_path)
    _, backend = await run(xml, put(b'{"x": 1.5}', "application/vnd.point+json"), env=env)
    assert len(backend.calls) == 1  # a schema-id <content> lists its type
    ctx, _ = await run(xml, put(b'{"x": "a"}', "application/vnd.point+json"), env=env)
    assert "definition shapes" in message(ctx) and "'a' is not of type 'number'" in message(ctx)
    bad_ref = xml.replace("#/definitions/point", "#/definitions/nope")
    with pytest.raises(ConfigError, match="does not resolve"):
        pipeline(bad_ref, env)


async def test_schema_id_without_spec_when_nothing_needs_it(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "s.json").write_text('{"type": "array"}')
    xml = policy('<content type="application/json" validate-as="json" schema-id="s" '
                 'action="prevent" />', unspecified="ignore")
    env = CompileEnv(base_dir=tmp_path)
    ctx, _ = await run(xml, put(b"{}"), env=env)
    assert "{} is not of type 'array'" in message(ctx)


XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="order"><xs:complexType><xs:sequence>
    <xs:element name="qty" type="xs:positiveInteger"/></xs:sequence></xs:complexType>
  </xs:element></xs:schema>"""


async def test_xml_and_soap_against_an_xsd(tmp_path: Path) -> None:
    pytest.importorskip("xmlschema")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "order.xsd").write_text(XSD)
    env = env_for(tmp_path)
    xml = policy('<content type="application/xml" validate-as="xml" schema-id="order" '
                 'action="prevent" />')
    _, backend = await run(xml, put(b"<order><qty>2</qty></order>", "application/xml"), env=env)
    assert len(backend.calls) == 1
    ctx, _ = await run(xml, put(b"<order><qty>0</qty></order>", "application/xml"), env=env)
    assert ctx.Response.StatusCode == 400 and "definition order" in message(ctx)
    ctx, _ = await run(xml, put(b'<!DOCTYPE x [<!ENTITY a "b">]><order/>', "application/xml"),
                       env=env)
    assert "not well-formed" in message(ctx)
    soap = policy('<content type="application/soap+xml" validate-as="soap" schema-id="order" '
                  'action="prevent" />', unspecified="ignore")
    envelope = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
                '<order><qty>{}</qty></order></s:Body></s:Envelope>')
    _, backend = await run(soap, put(envelope.format(3).encode(), "application/soap+xml"),
                           env=env)
    assert len(backend.calls) == 1
    ctx, _ = await run(soap, put(envelope.format("x").encode(), "application/soap+xml"),
                       env=env)
    assert ctx.Response.StatusCode == 400
    ctx, _ = await run(soap, put(b"<order><qty>1</qty></order>", "application/soap+xml"),
                       env=env)
    assert "not a SOAP envelope" in message(ctx)


@pytest.mark.parametrize(("content", "env_kind", "needle"), [
    ('<content validate-as="json" action="prevent" />', "none",
     "needs the API's OpenAPI document, and this API has none"),
    ('<content validate-as="xml" type="application/xml" action="prevent" />', "spec",
     "needs schema-id"),
    ('<content validate-as="json" schema-id="missing" action="prevent" />', "spec",
     "no schema file schemas/missing.json"),
    ('<content validate-as="yaml" action="prevent" />', "spec", "expected one of json"),
    ('<content validate-as="json" action="maybe" />', "spec", "expected one of ignore"),
    ('<content validate-as="json" />', "spec", "missing required attribute 'action'"),
])
def test_compile_errors(tmp_path: Path, content: str, env_kind: str, needle: str) -> None:
    env = env_for(tmp_path) if env_kind == "spec" else CompileEnv()
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        pipeline(policy(content), env)


def test_xml_needs_the_xmlschema_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubegate.policies.builtin import _schemas

    monkeypatch.setattr(_schemas, "xml_available", lambda: False)
    xml = policy('<content type="application/xml" validate-as="xml" schema-id="order" '
                 'action="prevent" />')
    with pytest.raises(ConfigError, match="needs the 'xmlschema' package"):
        pipeline(xml, env_for(tmp_path))
    pipeline(xml, CompileEnv(placeholder_named_values=True))  # check mode: structure only


def test_operation_missing_from_the_spec_is_an_error(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    env.openapi_operation = None
    with pytest.raises(ConfigError, match="is not in API 'orders'"):
        pipeline(policy(), env)


async def test_check_mode_checks_structure_only() -> None:
    env = CompileEnv(placeholder_named_values=True)
    xml = policy('<content validate-as="xml" type="application/xml" schema-id="x" '
                 'action="prevent" />')
    ctx, backend = await run(xml, put(b"{}"), env=env)
    assert backend.calls == [] and ctx.Response.StatusCode == 500
    assert err(ctx).Reason == "ApiSchema"
    with pytest.raises(ConfigError, match="unsupported attribute"):
        pipeline(policy(extra="", content='<content validate-as="json" action="ignore" x="1" />'),
                 env)

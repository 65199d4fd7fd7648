"""The validate-* policies in a real gateway, against an API imported from an OpenAPI
document: parameters and body checked inbound, status code and body outbound."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import Backend, Gateway, request

pytestmark = pytest.mark.e2e

ECHO = {"type": "object", "required": ["method", "path"],
        "properties": {"method": {"type": "string"}, "path": {"type": "string"}}}
SPEC = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
    "/items/{id}": {"put": {
        "operationId": "put-item",
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1}},
                       {"name": "dry", "in": "query", "schema": {"type": "boolean"}}],
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "maxLength": 10}}}}}},
        "responses": {"200": {"description": "ok",
                              "content": {"application/json": {"schema": ECHO}}}}}},
    "/items": {"get": {"operationId": "list-items",
                       "responses": {"201": {"description": "only 201 is documented"}}}},
    "/strict": {"get": {"operationId": "strict", "responses": {"200": {
        "description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["never-sent"]}}}}}}},
}}
POLICY = """<policies>
  <inbound>
    <validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent">
      <headers unspecified-parameter-action="ignore" />
    </validate-parameters>
    <validate-content unspecified-content-type-action="prevent" max-size="200" size-exceeded-action="prevent">
      <content type="application/json" validate-as="json" action="prevent" />
    </validate-content>
  </inbound>
  <backend><forward-request /></backend>
  <outbound>
    <validate-status-code unspecified-status-code-action="prevent" />
    <validate-content unspecified-content-type-action="prevent" max-size="100000" size-exceeded-action="prevent">
      <content type="application/json" validate-as="json" action="prevent" />
    </validate-content>
  </outbound>
</policies>"""
JSON = {"Content-Type": "application/json"}


def test_requests_and_responses_are_checked_against_the_imported_spec(
        tmp_path: Path, make_gateway: Callable[..., Gateway]) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    backend = Backend()
    try:
        gw = make_gateway({"apis": [{"name": "items", "path": "/items-api",
                                     "backend": backend.url, "policy": POLICY,
                                     "openapi": str(tmp_path / "spec.json")}]})
        ok = request(gw.port, "PUT", "/items-api/items/3?dry=true", body=b'{"name": "pen"}',
                     headers=JSON)
        assert ok.status == 200 and ok.json()["path"] == "/items/3", ok.body
        assert backend.requests == 1
        refused = {
            ("/items-api/items/0", b'{"name": "pen"}', "application/json"):
                "The value of the path parameter id does not conform to the definition.",
            ("/items-api/items/3?dry=perhaps", b'{"name": "pen"}', "application/json"):
                "Value of the query parameter dry couldn't be parsed",
            ("/items-api/items/3?debug=1", b'{"name": "pen"}', "application/json"):
                "Unspecified query parameter debug is not allowed.",
            ("/items-api/items/3", b'{"name": "a-very-long-name"}', "application/json"):
                "Body of the request does not conform to the definition",
            ("/items-api/items/3", b'{"name": "pen", "x": 1}', "application/json"):
                "Additional properties are not allowed",
            ("/items-api/items/3", b"name=pen", "application/x-www-form-urlencoded"):
                "Unspecified content type application/x-www-form-urlencoded is not allowed.",
            ("/items-api/items/3", b'{"name": "' + b"p" * 300 + b'"}', "application/json"):
                "Request's body is 312 bytes long and it exceeds the limit of 200 bytes.",
        }
        for (path, body, ctype), text in refused.items():
            r = request(gw.port, "PUT", path, body=body, headers={"Content-Type": ctype})
            assert r.status == 400, (path, r.status, r.body)
            assert r.json()["statusCode"] == 400 and text in r.json()["message"], r.body
        assert backend.requests == 1  # nothing refused reached the backend

        undocumented = request(gw.port, "GET", "/items-api/items")
        assert undocumented.status == 502 and backend.requests == 2
        assert undocumented.json()["message"].startswith("The request could not be processed")
        mismatch = request(gw.port, "GET", "/items-api/strict")
        assert mismatch.status == 502 and b"never-sent" not in mismatch.body
    finally:
        backend.close()


def test_a_validate_policy_on_an_api_without_spec_stops_the_load(
        tmp_path: Path, make_gateway: Callable[..., Gateway]) -> None:
    from kubegate.compile.load import load
    from kubegate.model.errors import ConfigError

    config = tmp_path / "kubegate.yaml"
    config.write_text(json.dumps({"apis": [{"name": "plain", "path": "/p",
                                            "backend": "http://127.0.0.1:9",
                                            "policy": POLICY}]}))
    with pytest.raises(ConfigError, match="needs the API's OpenAPI document, and API 'plain'"):
        load(config)


def test_mock_response_answers_with_the_imported_example(
        tmp_path: Path, make_gateway: Callable[..., Gateway]) -> None:
    spec = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/pets/{id}": {"get": {"operationId": "get-pet", "responses": {
            "200": {"description": "ok", "content": {"application/json": {
                "example": {"id": 7, "name": "Rex"}}}},
            "404": {"description": "no", "content": {"text/plain": {"example": "no pet"}}}}}}}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    backend = Backend()
    try:
        mock = ("<policies><inbound><mock-response status-code=\"{code}\" /></inbound>"
                "<backend><forward-request /></backend><outbound /><on-error /></policies>")
        gw = make_gateway({"apis": [
            {"name": "pets", "path": "/pets-api", "backend": backend.url,
             "openapi": str(tmp_path / "spec.json"), "policy": mock.format(code=200)},
            {"name": "gone", "path": "/gone-api", "backend": backend.url,
             "openapi": str(tmp_path / "spec.json"), "policy": mock.format(code=404)}]})
        found = request(gw.port, "GET", "/pets-api/pets/1")
        assert found.status == 200 and found.json() == {"id": 7, "name": "Rex"}
        assert found.header("Content-Type") == "application/json"
        missing = request(gw.port, "GET", "/gone-api/pets/1")
        assert missing.status == 404 and missing.body == b"no pet"
        assert missing.header("Content-Type") == "text/plain"
        assert backend.requests == 0  # answered by the gateway
    finally:
        backend.close()

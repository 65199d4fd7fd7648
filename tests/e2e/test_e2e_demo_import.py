"""The demo's services (ASP.NET-style, Swashbuckle documents without host or
servers): their specs imported by URL at load, every operation called through
the gateway, and the spec republished for the gateway's clients."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import Backend, Gateway, request

from kubegate.demo.services import inventory_service, orders_service

pytestmark = pytest.mark.e2e
SAMPLE = {"id": "1", "sku": "keyboard"}
BODIES = {"Orders_Create": {"item": "mouse", "quantity": 2}, "Items_SetStock": {"stock": 5}}


@pytest.fixture
def services() -> Iterator[dict[str, Any]]:
    started = {"orders": orders_service(), "inventory": inventory_service()}
    servers = {name: svc.serve() for name, svc in started.items()}
    yield {name: (started[name], server.server_address[1]) for name, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def test_every_operation_of_the_imported_specs_is_routed(
        services: dict[str, Any], make_gateway: Callable[..., Gateway]) -> None:
    apis = [{"name": name, "path": f"/{name}", "publish_openapi": True,
             "openapi": f"http://127.0.0.1:{port}/swagger/v1/swagger.json"}
            for name, (_, port) in services.items()]
    gw = make_gateway({"apis": apis})
    called = 0
    for name, (service, _) in services.items():
        for method, template, _pattern, op_id, _fn in service.routes:
            path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template)
            body = json.dumps(BODIES[op_id]).encode() if op_id in BODIES else b""
            r = request(gw.port, method, f"/{name}{path}", body=body,
                        headers={"Content-Type": "application/json"} if body else None)
            assert r.status in (200, 201), (op_id, r.status, r.body)
            called += 1
    assert called == sum(len(svc.routes) for svc, _ in services.values()) == 6
    assert request(gw.port, "DELETE", "/orders/api/orders/1").status == 404  # not in the spec

    published = request(gw.port, "GET", "/orders/openapi.json", headers={"Host": "api.example"})
    assert published.status == 200
    spec = published.json()
    assert spec["servers"] == [{"url": "http://api.example/orders"}]
    assert set(spec["paths"]) == {"/api/orders", "/api/orders/{id}"}
    swagger2 = request(gw.port, "GET", "/inventory/openapi.json").json()
    assert (swagger2["basePath"], swagger2["schemes"]) == ("/inventory", ["http"])


def items_spec(tmp_path: Any, method: str, operation: dict[str, Any]) -> str:
    """An OpenAPI file with `method` /items/{id} (integer id) and `operation`'s
    fields; returns its path."""
    spec = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/items/{id}": {method: {"operationId": f"{method}-item", "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "ok"}}, **operation}}}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_requests_are_validated_against_the_spec_when_asked(
        tmp_path: Any, make_gateway: Callable[..., Gateway]) -> None:
    spec = items_spec(tmp_path, "put", {"requestBody": {
        "required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "price": {"type": "number"}}}}}}})
    backend = Backend()
    try:
        gw = make_gateway({"apis": [{"name": "v", "path": "/v", "backend": backend.url,
                                     "openapi": spec, "validate_requests": True}]})
        ok = request(gw.port, "PUT", "/v/items/3", body=b'{"name": "pen", "price": 2.5}',
                     headers={"Content-Type": "application/json"})
        assert ok.status == 200 and ok.json()["path"] == "/items/3"
        for path, body in (("/v/items/3", b'{"price": 2.5}'), ("/v/items/3", b'{"name": 7}'),
                           ("/v/items/abc", b'{"name": "pen"}'), ("/v/items/3", b"not json")):
            bad = request(gw.port, "PUT", path, body=body,
                          headers={"Content-Type": "application/json"})
            assert bad.status == 400, (path, body, bad.body)
            assert bad.json()["statusCode"] == 400 and bad.json()["errors"]
        assert backend.connections == 1  # only the valid request reached it
    finally:
        backend.close()


def test_a_valid_key_never_skips_request_validation(
        tmp_path: Any, make_gateway: Callable[..., Gateway]) -> None:
    """The key check on the raw head (an API with keys and no policies) sits inside
    request validation: an admitted key still gets its request validated."""
    spec = items_spec(tmp_path, "get", {})
    backend = Backend()
    try:
        gw = make_gateway({"apis": [{"name": "v", "path": "/v", "backend": backend.url,
                                     "openapi": spec, "validate_requests": True,
                                     "subscription_required": True}],
                           "subscriptions": [{"name": "s", "scope": "all",
                                              "primary_key": "k" * 32}]})
        key = {"Ocp-Apim-Subscription-Key": "k" * 32}
        assert request(gw.port, "GET", "/v/items/3", headers=key).status == 200
        bad = request(gw.port, "GET", "/v/items/abc", headers=key)
        assert bad.status == 400 and bad.json()["errors"]
        assert request(gw.port, "GET", "/v/items/3").status == 401
        assert backend.connections == 1  # only the valid request reached it
    finally:
        backend.close()

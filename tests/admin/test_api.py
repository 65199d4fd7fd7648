import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey

from kubegate.admin.app import AdminState, create_app
from kubegate.admin.auth import AdminAuth
from kubegate.admin.context import AdminContext
from kubegate.admin.overlay import overlay_config, read_overlay
from kubegate.services.jwt import JwtRules, KeyKind, SigningKeySpec
from kubegate.store import Store

from .conftest import AUTH, DECLARED, TOKEN

API = {"path": "/pets", "backend": "http://127.0.0.1:9",
       "operations": [{"method": "GET", "path": "/pets/{id}"}]}
GOOD = "<policies><inbound><base /><set-header name=\"X-A\" exists-action=\"override\">" \
       "<value>1</value></set-header></inbound></policies>"
BAD = "<policies>\n<inbound>\n<no-such-policy />\n</inbound>\n</policies>"


def test_requires_authentication(client: TestClient) -> None:
    assert client.get("/admin/api/apis").status_code == 401
    r = client.get("/admin/api/apis", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
    assert r.status_code == 401
    assert client.put("/admin/api/apis/x", json=API).status_code == 401
    assert client.get("/health/live").status_code == 200


def test_disabled_without_credentials(store: Store) -> None:
    ctx = AdminContext(store=store, auth=AdminAuth(None))
    with TestClient(create_app(AdminState(dict, lambda: True, ctx))) as c:
        assert c.get("/admin/api/apis", headers=AUTH).status_code == 403


def test_jwt_with_admin_role(store: Store) -> None:
    secret = b"s" * 32
    import base64
    rules = JwtRules(issuers=("https://idp",), signing_keys=(SigningKeySpec(
        KeyKind.SYMMETRIC, base64.b64encode(secret).decode()),))
    ctx = AdminContext(store=store, auth=AdminAuth(jwt=rules, clock=lambda: 1000.0))
    key = OctKey.import_key(secret)

    def token(roles: list[str]) -> str:
        claims = {"iss": "https://idp", "sub": "ops@x", "exp": 5000, "roles": roles}
        return jwt.encode({"alg": "HS256"}, claims, key)

    with TestClient(create_app(AdminState(dict, lambda: True, ctx))) as c:
        ok = c.put("/admin/api/named-values/a", json={"value": "1"},
                   headers={"Authorization": f"Bearer {token(['admin'])}"})
        assert ok.status_code == 200, ok.text
        no_role = c.get("/admin/api/apis", headers={"Authorization": f"Bearer {token(['dev'])}"})
        assert no_role.status_code == 403
    assert store.audit(1)[0].actor == "jwt:ops@x"


def test_api_crud_audited_and_overlaid(client: TestClient, store: Store) -> None:
    before = store.version()
    r = client.put("/admin/api/apis/pets", json=API, headers=AUTH)
    assert r.status_code == 200, r.text
    assert store.version() > before
    names = [a["name"] for a in client.get("/admin/api/apis", headers=AUTH).json()]
    assert names == ["declared", "pets"]
    entry = store.audit(1)[0]
    assert (entry.actor, entry.action, entry.target) == ("admin-token", "api.put", "api:pets")
    effective = overlay_config(DECLARED, store)
    assert [a.name for a in effective.apis] == ["declared", "pets"]
    ops = client.get("/admin/api/apis/pets/operations", headers=AUTH).json()
    assert ops[0]["path"] == "/pets/{id}"
    assert client.delete("/admin/api/apis/pets", headers=AUTH).status_code == 204
    assert client.get("/admin/api/apis/pets", headers=AUTH).status_code == 404


def test_declared_entries_win(client: TestClient) -> None:
    r = client.put("/admin/api/apis/declared", json=API, headers=AUTH)
    assert r.status_code == 409 and "declared" in r.json()["detail"]
    assert client.put("/admin/api/named-values/env", json={"value": "x"},
                      headers=AUTH).status_code == 409
    clash = client.put("/admin/api/apis/other", json={**API, "path": "/declared"}, headers=AUTH)
    assert clash.status_code == 422


def test_invalid_changes_rejected_with_reasons(client: TestClient, store: Store) -> None:
    r = client.put("/admin/api/apis/x", json={**API, "backend": "ftp://nope"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["problems"]
    client.put("/admin/api/apis/pets", json=API, headers=AUTH)
    version = store.version()
    r = client.put("/admin/api/policies/apis/pets", json={"document": BAD}, headers=AUTH)
    assert r.status_code == 422, r.text
    problem = r.json()["problems"][0]
    assert "no-such-policy" in problem["message"] and problem["line"] == 3
    assert store.version() == version  # nothing stored
    ok = client.put("/admin/api/policies/apis/pets", json={"document": GOOD}, headers=AUTH)
    assert ok.status_code == 200, ok.text
    assert client.get("/admin/api/policies/apis/pets", headers=AUTH).json()["document"] == GOOD
    r = client.put("/admin/api/policies/global", json={"document": "not xml"}, headers=AUTH)
    assert r.status_code == 422


def test_import_inline_spec(client: TestClient, store: Store) -> None:
    spec = {"openapi": "3.0.3", "info": {"title": "Echo", "version": "1"},
            "servers": [{"url": "http://127.0.0.1:9"}],
            "paths": {"/echo": {"get": {"operationId": "echo", "responses": {"200": {
                "description": "ok"}}}}}}
    r = client.post("/admin/api/apis/import", json={"path": "/echo", "name": "echo",
                                                    "document": spec}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["api"]["operations"][0]["id"] == "echo"
    assert read_overlay(store)[0].apis[0].name == "echo"
    spec_doc = client.get("/portal/apis/echo/openapi.json").json()
    assert spec_doc["servers"][0]["url"].endswith("/portal/try/echo")


def test_subscriptions_keys_only_on_create(client: TestClient) -> None:
    assert client.post("/admin/api/products", json={"name": "gold", "approval_required": True,
                                                    "apis": ["pets"]},
                       headers=AUTH).status_code == 201
    r = client.post("/admin/api/subscriptions", json={"name": "app", "scope": "product:gold",
                                                      "id": "s1"}, headers=AUTH)
    assert r.status_code == 201
    body = r.json()
    assert len(body["primary_key"]) == 32 and body["subscription"]["state"] == "submitted"
    got = client.get("/admin/api/subscriptions/s1", headers=AUTH).json()
    assert "primary_key" not in json.dumps(got)
    assert client.post("/admin/api/subscriptions/s1/activate",
                       headers=AUTH).json()["state"] == "active"
    assert client.post("/admin/api/subscriptions/s1/suspend",
                       headers=AUTH).json()["state"] == "suspended"
    regen = client.post("/admin/api/subscriptions/s1/regenerate/secondary", headers=AUTH).json()
    assert "secondary_key" in regen and "primary_key" not in regen
    bad = client.post("/admin/api/subscriptions", json={"name": "x", "scope": "bogus"},
                      headers=AUTH)
    assert bad.status_code == 409


def test_users_groups_named_values(client: TestClient) -> None:
    u = client.post("/admin/api/users", json={"email": "a@b.c", "password": "password1"},
                    headers=AUTH).json()
    assert client.post("/admin/api/groups", json={"name": "devs"}, headers=AUTH).status_code == 201
    assert client.put(f"/admin/api/groups/devs/members/{u['id']}",
                      headers=AUTH).status_code == 204
    assert client.get(f"/admin/api/users/{u['id']}", headers=AUTH).json()["groups"] == ["devs"]
    client.put("/admin/api/named-values/color", json={"value": "blue"}, headers=AUTH)
    values = client.get("/admin/api/named-values", headers=AUTH).json()
    assert values == {"color": "blue", "env": "test"}


def test_concurrent_changes_all_kept(client: TestClient, store: Store) -> None:
    errors: list[int] = []

    def put(i: int) -> None:
        r = client.put(f"/admin/api/named-values/v{i}", json={"value": str(i)}, headers=AUTH)
        if r.status_code != 200:
            errors.append(r.status_code)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    overlay, revision = read_overlay(store)
    assert set(overlay.named_values) == {f"v{i}" for i in range(12)}
    assert revision == 12


def test_status_and_reload(client: TestClient, tmp_path: Path) -> None:
    status = client.get("/status").json()
    assert status["mode"] == "test" and status["store"]["ok"] is True
    assert status["backends"][0]["api"] == "declared"
    r = client.post("/admin/api/reload", headers=AUTH)
    assert r.status_code == 200 and r.json()["reloaded"] is False


@pytest.mark.parametrize("path", ["/admin/api/products/nope", "/admin/api/subscriptions/nope",
                                  "/admin/api/users/nope"])
def test_not_found(client: TestClient, path: str) -> None:
    assert client.get(path, headers=AUTH).status_code == 404


def test_admin_changes_compile_declared_validate_policies_with_their_spec(
        store: Store, tmp_path: Path) -> None:
    """Every admin change rebuilds the whole snapshot: a declared API's validate-content
    policy must compile against that API's OpenAPI document there too."""
    from kubegate.compile.load import SpecCache, api_specs, resolve_openapi
    from kubegate.model.config import Config

    spec = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
            "paths": {"/items": {"post": {"operationId": "add", "requestBody": {"content": {
                "application/json": {"schema": {"type": "object", "required": ["name"]}}}},
                "responses": {"200": {"description": "ok"}}}}}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    policy = ("<policies><inbound><base /><validate-content unspecified-content-type-action="
              "\"prevent\" max-size=\"1024\" size-exceeded-action=\"prevent\"><content type="
              "\"application/json\" validate-as=\"json\" action=\"prevent\" />"
              "</validate-content></inbound></policies>")
    cache = SpecCache()
    declared = resolve_openapi(Config.model_validate({"apis": [{
        "name": "items", "path": "/items", "backend": "http://127.0.0.1:9",
        "openapi": "spec.json", "policy": policy}]}), tmp_path, cache)
    with_specs = AdminContext(store=store, declared=lambda: declared, base_dir=tmp_path,
                              auth=AdminAuth(TOKEN),
                              specs=lambda c: api_specs(c, tmp_path, cache))
    without = AdminContext(store=store, declared=lambda: declared, base_dir=tmp_path,
                           auth=AdminAuth(TOKEN))
    change = {"value": "v"}
    with TestClient(create_app(AdminState(lambda: {}, lambda: True, without))) as client:
        r = client.put("/admin/api/named-values/n1", json=change, headers=AUTH)
        assert r.status_code == 422 and "OpenAPI" in r.text
    with TestClient(create_app(AdminState(lambda: {}, lambda: True, with_specs))) as client:
        r = client.put("/admin/api/named-values/n1", json=change, headers=AUTH)
        assert r.status_code == 200, r.text

"""The seed scenario end to end: one global policy admits a request carrying a
valid JWT *or* a valid subscription key, on every API; products, key stripping,
and a subscription created in the store while the gateway runs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import REPO, Backend, Gateway, Response, wait_until
from joserfc import jwt
from joserfc.jwk import OctKey

from kubegate.policies.subscription import INVALID_KEY, MISSING_KEY
from kubegate.store import Store

pytestmark = pytest.mark.e2e

SECRET = b"e2e-signing-secret-0123456789abcd"
KEY = "Ocp-Apim-Subscription-Key"
VALID_KEY = "0123456789abcdef0123456789abcdef"
SUSPENDED_KEY = "fedcba9876543210fedcba9876543210"

# The one global document: a request with a subscription key is admitted by the
# key check (context.Subscription set); any other request needs a valid JWT.
GLOBAL_POLICY = f"""<policies>
  <inbound>
    <choose>
      <when condition="@(context.Subscription == null)">
        <validate-jwt header-name="Authorization" require-scheme="Bearer">
          <issuer-signing-keys><key>{base64.b64encode(SECRET).decode()}</key></issuer-signing-keys>
          <audiences><audience>kubegate-e2e</audience></audiences>
        </validate-jwt>
      </when>
    </choose>
    <set-header name="X-Caller" exists-action="override">
      <value>@(context.Subscription != null ? "sub:" + context.Subscription.Name : "jwt")</value>
    </set-header>
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>"""

# The open product cuts the global inbound section: its API needs no credentials.
OPEN_PRODUCT_POLICY = "<policies><inbound /></policies>"


def token(audience: str = "kubegate-e2e", secret: bytes = SECRET) -> str:
    payload = {"sub": "alice", "aud": audience, "exp": int(time.time()) + 300}
    return jwt.encode({"alg": "HS256"}, payload, OctKey.import_key(secret))


def config(backend: Backend, store: str) -> dict[str, Any]:
    apis: list[dict[str, Any]] = [{"name": name, "path": f"/{name}", "backend": backend.url}
            for name in ("orders", "billing", "public")]
    apis.append({"name": "gold", "path": "/gold", "backend": backend.url,
                 "subscription_required": True, "subscription_key_header": "X-Key",
                 "subscription_key_query": "key"})
    return {
        "gateway": {"store": store},
        "policy": GLOBAL_POLICY,
        "apis": apis,
        "products": [{"name": "free", "apis": ["public"], "subscription_required": False,
                      "policy": OPEN_PRODUCT_POLICY}],
        "subscriptions": [
            {"name": "ci", "scope": "all", "primary_key": VALID_KEY},
            {"name": "old", "scope": "all", "primary_key": SUSPENDED_KEY, "state": "suspended"},
        ],
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Backend, str]]:
    folder = tmp_path_factory.mktemp("access")
    store = f"sqlite:///{folder / 'kg.db'}"
    backend = Backend()
    gw_folder = folder / "gw"
    gw_folder.mkdir()
    gateway = Gateway(gw_folder, config(backend, store))
    yield gateway, backend, store
    gateway.stop()
    backend.close()


def get(gw: Gateway, path: str, headers: dict[str, str] | None = None) -> Response:
    return gw.get(path, headers=headers or {})


def seen_by_backend(resp: Response) -> dict[str, Any]:
    data: dict[str, Any] = resp.json()
    data["hmap"] = {k.lower(): v for k, v in data["headers"]}
    return data


def test_no_credentials_is_401(env: tuple[Gateway, Backend, str]) -> None:
    gw, backend, _ = env
    before = backend.requests
    resp = get(gw, "/orders/1")
    assert resp.status == 401
    assert resp.json() == {"statusCode": 401, "message": "JWT not present."}
    assert backend.requests == before


def test_bad_jwt_is_401(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, _ = env
    for bad in (token(secret=b"another-secret-0123456789abcdefgh"), token(audience="other"),
                "not.a.jwt"):
        resp = get(gw, "/billing/x", {"Authorization": f"Bearer {bad}"})
        assert resp.status == 401, bad
        assert resp.json()["statusCode"] == 401
        assert resp.json()["message"].endswith("Access denied.")


def test_valid_jwt_is_admitted_on_every_api(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, _ = env
    for api in ("orders", "billing"):
        resp = get(gw, f"/{api}/items", {"Authorization": f"Bearer {token()}"})
        assert resp.status == 200
        assert seen_by_backend(resp)["hmap"]["x-caller"] == "jwt"


def test_wrong_key_is_401_invalid(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, _ = env
    resp = get(gw, "/orders/1", {KEY: "0" * 32})
    assert resp.status == 401
    assert resp.json() == {"statusCode": 401, "message": INVALID_KEY}


def test_suspended_subscription_is_403(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, _ = env
    resp = get(gw, "/orders/1", {KEY: SUSPENDED_KEY})
    assert resp.status == 403
    assert resp.json()["statusCode"] == 403 and "suspended" in resp.json()["message"]


def test_valid_key_is_admitted_and_stripped(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, _ = env
    resp = get(gw, "/orders/1?a=1", {KEY: VALID_KEY})
    assert resp.status == 200
    seen = seen_by_backend(resp)
    assert seen["hmap"]["x-caller"] == "sub:ci"
    assert KEY.lower() not in seen["hmap"] and seen["query"] == "a=1"
    resp = get(gw, f"/billing/2?subscription-key={VALID_KEY}&b=2")
    assert resp.status == 200
    seen = seen_by_backend(resp)
    assert seen["query"] == "b=2" and VALID_KEY not in json.dumps(seen)


def test_open_product_admits_without_credentials(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, _ = env
    resp = get(gw, "/public/info")
    assert resp.status == 200
    assert "x-caller" not in seen_by_backend(resp)["hmap"]  # the product cut the global inbound
    assert get(gw, "/orders/info").status == 401  # the other APIs still need credentials


def run_cli(*args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "kubegate", *args, "--json"], cwd=REPO,
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_store_subscription_becomes_usable_within_2s(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, store = env
    created = run_cli("subscriptions", "create", "late", "--scope", "api:billing",
                      "--store", store)
    key = created["primary_key"]
    started = time.monotonic()

    def admitted() -> bool:
        return get(gw, "/billing/z", {KEY: key}).status == 200

    assert wait_until(admitted, 2.0, 0.05), gw.log_text()[-2000:]
    assert time.monotonic() - started <= 2.5
    # its scope is one API: another API answers 401 invalid key, as APIM does
    resp = get(gw, "/orders/z", {KEY: key})
    assert (resp.status, resp.json()["message"]) == (401, INVALID_KEY)
    with Store(store) as opened:  # a change through the Python API propagates the same way
        opened.subscriptions.suspend(created["subscription"]["id"])
    assert wait_until(lambda: get(gw, "/billing/z", {KEY: key}).status == 403, 2.0, 0.05)


def test_protected_api_with_its_own_key_names(env: tuple[Gateway, Backend, str]) -> None:
    gw, _, _ = env
    # the key check runs before any policy: a JWT does not replace a required key
    resp = get(gw, "/gold/1", {"Authorization": f"Bearer {token()}"})
    assert (resp.status, resp.json()) == (401, {"statusCode": 401, "message": MISSING_KEY})
    assert get(gw, "/gold/1", {KEY: VALID_KEY}).status == 401  # the default name is not read
    resp = get(gw, "/gold/1", {"X-Key": VALID_KEY})
    assert resp.status == 200 and "x-key" not in seen_by_backend(resp)["hmap"]
    resp = get(gw, f"/gold/1?key={VALID_KEY}")
    assert resp.status == 200 and seen_by_backend(resp)["query"] == ""

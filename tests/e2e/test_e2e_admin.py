"""The admin API wired to a running gateway: a change made through it is validated,
kept in the store, and served by the data plane without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import REPO, Backend, Gateway, gateway_config, request, wait_until

pytestmark = pytest.mark.e2e
TOKEN = "e2e-admin-token-0123456789"


def admin_call(gw: Gateway, method: str, path: str, body: object | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else b""
    r = request(gw.admin_port, method, "/admin/api" + path, body=data,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    return r.status, (r.json() if r.body else None)


@pytest.fixture
def admin_gateway(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  make_gateway: Callable[..., Gateway]) -> Gateway:
    monkeypatch.setenv("KUBEGATE_ADMIN_TOKEN", TOKEN)
    config = gateway_config([{"name": "declared", "path": "/declared", "backend": backend.url}],
                            store=f"sqlite:///{tmp_path / 'kg.db'}")
    return make_gateway(config)


def test_an_api_added_through_the_admin_api_is_served(admin_gateway: Gateway,
                                                      backend: Backend) -> None:
    gw = admin_gateway
    assert request(gw.port, "GET", "/pets/p/1").status == 404
    status, _ = admin_call(gw, "PUT", "/apis/pets", {
        "path": "/pets", "backend": backend.url,
        "operations": [{"method": "GET", "path": "/p/{id}"}]})
    assert status in (200, 201)
    assert wait_until(lambda: request(gw.port, "GET", "/pets/p/1").status == 200, timeout=10)
    assert request(gw.port, "GET", "/declared/x").status == 200  # declared config unchanged


def test_a_bad_policy_is_refused_and_nothing_changes(admin_gateway: Gateway) -> None:
    status, body = admin_call(admin_gateway, "PUT", "/policies/apis/declared", {
        "document": "<policies>\n<inbound>\n<no-such-policy />\n</inbound>\n</policies>"})
    assert status in (409, 422)  # the YAML declares this API: its policy belongs to the file
    assert request(admin_gateway.port, "GET", "/declared/x").status == 200


def test_admin_api_refuses_without_the_token(admin_gateway: Gateway) -> None:
    r = request(admin_gateway.admin_port, "GET", "/admin/api/apis")
    assert r.status == 401


def test_cli_created_subscription_is_listed_by_the_admin_api(admin_gateway: Gateway,
                                                             tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kubegate", "subscriptions", "create", "cli-app", "--scope", "all",
         "--store", f"sqlite:///{tmp_path / 'kg.db'}", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ})
    assert out.returncode == 0, out.stderr
    status, body = admin_call(admin_gateway, "GET", "/subscriptions")
    assert status == 200 and "cli-app" in json.dumps(body)


def test_store_products_decide_admission_without_a_restart(admin_gateway: Gateway,
                                                           tmp_path: Path) -> None:
    gw = admin_gateway
    assert request(gw.port, "GET", "/declared/x").status == 200  # in no product yet

    def cli(*args: str) -> None:
        out = subprocess.run([sys.executable, "-m", "kubegate", *args,
                              "--store", f"sqlite:///{tmp_path / 'kg.db'}"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    cli("products", "create", "gold", "--api", "declared")  # protected: keys needed now
    assert wait_until(lambda: request(gw.port, "GET", "/declared/x").status == 401, timeout=10)
    r = request(gw.port, "GET", "/declared/x")
    assert "missing subscription key" in r.json()["message"]

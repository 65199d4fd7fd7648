from __future__ import annotations

from typing import Any

import pytest

from kubegate.sources.openapi.rewrite import client_spec, fix_host

V2: dict[str, Any] = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "basePath": "/api",
                      "paths": {"/a": {"get": {"responses": {}}}}}  # fmt: skip
V3: dict[str, Any] = {
    "openapi": "3.0.1", "info": {"title": "t", "version": "1"},
    "servers": [{"url": "https://old.example/base"}],
    "paths": {"/a": {"servers": [{"url": "https://x"}], "get": {"servers": [], "responses": {}}}},
}  # fmt: skip


def test_fix_host_swagger2_keeps_the_rest() -> None:
    out = fix_host(V2, "10.0.0.4:30080")
    assert out["host"] == "10.0.0.4:30080" and out["schemes"] == ["http"]
    assert out["basePath"] == "/api" and out["paths"] == V2["paths"]
    assert "host" not in V2  # input untouched


def test_fix_host_openapi3_keeps_server_path() -> None:
    out = fix_host(V3, "node:31000", "https")
    assert out["servers"] == [{"url": "https://node:31000/base"}]


def test_fix_host_rejects_bad_host() -> None:
    with pytest.raises(ValueError):
        fix_host(V2, "http://x/y")


def test_client_spec_points_at_the_gateway() -> None:
    out = client_spec(V3, "https://gw.example", "/orders")
    assert out["servers"] == [{"url": "https://gw.example/orders"}]
    assert "servers" not in out["paths"]["/a"] and "servers" not in out["paths"]["/a"]["get"]
    out2 = client_spec(V2, "http://gw:8080/", "orders")
    assert (out2["host"], out2["basePath"], out2["schemes"]) == ("gw:8080", "/orders", ["http"])

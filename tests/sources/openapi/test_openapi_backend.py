from __future__ import annotations

from typing import Any

import pytest

from kubegate.sources.openapi.backend import NO_BACKEND, resolve_backend

from .helpers import spec_of

PATHS: dict[str, Any] = {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}


def v3(**extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": PATHS, **extra}


def v2(**extra: Any) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": PATHS, **extra}


def test_explicit_backend_wins() -> None:
    spec = spec_of(v3(servers=[{"url": "https://a.example"}]))
    choice = resolve_backend(spec, "k8s://shop/orders:80", "http://svc/swagger.json")
    assert choice.url == "k8s://shop/orders:80"
    assert choice.reason == "explicit backend"


def test_explicit_backend_is_checked() -> None:
    with pytest.raises(ValueError):
        resolve_backend(spec_of(v3()), "ftp://nope")


def test_servers_zero_with_variables() -> None:
    servers = [
        {"url": "{s}://api.example:{p}/base/", "variables": {"s": {"default": "https"}, "p": {"default": 8443}}},
        {"url": "http://second.example"},
    ]  # fmt: skip
    choice = resolve_backend(spec_of(v3(servers=servers)))
    assert choice.url == "https://api.example:8443/base"
    assert "servers[0]" in choice.reason


def test_relative_server_against_spec_url() -> None:
    spec = spec_of(v3(servers=[{"url": "/api/v2"}]))
    choice = resolve_backend(spec, spec_url="http://orders:5000/swagger/v1/swagger.json")
    assert choice.url == "http://orders:5000/api/v2"


def test_relative_server_from_a_file_has_no_backend() -> None:
    choice = resolve_backend(spec_of(v3(servers=[{"url": "/api"}])))
    assert choice.url is None and choice.reason == NO_BACKEND
    assert any("read from a file" in s for s in choice.steps)


@pytest.mark.parametrize(
    ("schemes", "expected"),
    [
        (["http", "https"], "https://h:81/v1"),
        (["http"], "http://h:81/v1"),
        (None, "http://h:81/v1"),
    ],
)
def test_swagger2_host(schemes: list[str] | None, expected: str) -> None:
    extra: dict[str, Any] = {"host": "h:81", "basePath": "/v1/"}
    if schemes is not None:
        extra["schemes"] = schemes
    assert resolve_backend(spec_of(v2(**extra))).url == expected


def test_swagger2_without_schemes_uses_spec_url_scheme() -> None:
    spec = spec_of(v2(host="h", basePath="/"))
    assert resolve_backend(spec, spec_url="https://docs/swagger.json").url == "https://h"


def test_spec_url_origin_when_fetched() -> None:
    spec = spec_of(v2(basePath="/api"))  # Swashbuckle: no host
    choice = resolve_backend(spec, spec_url="http://10.0.0.5:30080/swagger/v1/swagger.json")
    assert choice.url == "http://10.0.0.5:30080/api"
    assert [s.split(":")[0] for s in choice.steps] == [
        "explicit backend", "x-servers[0]", "host", "spec URL origin",
    ]  # fmt: skip


def test_no_backend_is_reported_not_guessed() -> None:
    choice = resolve_backend(spec_of(v3()))
    assert choice.url is None
    assert choice.reason == "no backend URL: pass --backend or set backend:"

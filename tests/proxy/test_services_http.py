"""WorkerServices.http, the send-request client: timeout, Service URLs, egress."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from kubegate.policies.errors import BackendError
from kubegate.policies.state import ProxyRoute
from kubegate.proxy import forward as forward_module
from kubegate.proxy.services import WorkerServices, split_url
from kubegate.proxy.upstream import Pools


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, state: Any, backend: Any, method: str, path: str, headers: Any,
                       body: Any, forwarded: Any, limit: int, pool: Any = None) -> Any:
        self.calls.append({"backend": backend, "path": path, "forwarded": forwarded,
                           "pool": pool})
        await asyncio.sleep(self.delay)
        return 200, "OK", [], b"ok"


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Any:
    state = SimpleNamespace(pools=Pools(8, 1.0), max_body=0)
    return SimpleNamespace(_state=lambda: state, http=None, state=state)


def call(services: Any, url: str, timeout: float = 5.0, **egress: Any) -> Any:
    return WorkerServices.http(services, "GET", url, [], None, timeout, **egress)


async def test_http_honours_its_timeout(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forward_module, "forward", Recorder(delay=10))
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        await call(services, "http://api.example/x", timeout=0.1)
    assert info.value.status == 504 and time.monotonic() - started < 2


async def test_http_accepts_service_urls(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    monkeypatch.setattr(forward_module, "forward", rec)
    assert (await call(services, "k8s://shop/orders:8080/api/new?x=1"))[0] == 200
    backend = rec.calls[0]["backend"]
    assert backend.ref == "k8s://shop/orders:8080" and rec.calls[0]["path"] == "/api/new?x=1"
    await call(services, "http://api.example:81/a/b?c")
    assert rec.calls[1]["backend"].url == "http://api.example:81"
    assert rec.calls[1]["path"] == "/a/b?c"


def test_split_url() -> None:
    assert split_url("k8s://shop/orders:8080") == ("k8s://shop/orders:8080", "/")
    assert split_url("k8s://shop/orders:8080?a=b") == ("k8s://shop/orders:8080", "/?a=b")
    assert split_url("nodeport://a/b/c/d") == ("nodeport://a/b", "/c/d")
    assert split_url("https://h") == ("https://h", "/")


async def test_http_uses_the_egress_route(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    monkeypatch.setattr(forward_module, "forward", rec)
    via = ProxyRoute("10.0.0.5", 3128, b"Basic YTpi")
    await call(services, "http://api.example/x", proxy=via)
    sent = rec.calls[0]
    assert (sent["backend"].host, sent["backend"].port) == ("10.0.0.5", 3128)
    assert sent["forwarded"] == [(b"proxy-authorization", b"Basic YTpi")]
    assert sent["pool"] is services.state.pools.get(sent["backend"])


async def test_invalid_url_message_has_no_exception_text(services: Any) -> None:
    with pytest.raises(BackendError) as info:
        await call(services, "ftp://x/y")
    assert info.value.status == 500 and "not an http(s) URL" not in info.value.message

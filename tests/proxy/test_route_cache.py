"""The per-snapshot route cache: same answers as routing afresh, emptied on reload, bounded."""

from __future__ import annotations

from kubegate.compile.snapshot import build_snapshot
from kubegate.model.config import Config
from kubegate.proxy import request as request_module
from tests.proxy.conftest import CONFIG, Rig

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def get(rig: Rig, path: str) -> bytes:
    rig.send(f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
    sent = rig.upstream_sent()
    if sent:
        rig.reply(OK)
    answer = rig.ct.take()
    return sent.split(b"\r\n", 1)[0] if sent else answer.split(b"\r\n", 1)[0]


def cached(rig: Rig) -> dict[bytes, object]:
    """The route cache: b"METHOD path" -> its entry."""
    return rig.state.routes


def test_cached_routes_answer_like_fresh_ones(rig: Rig) -> None:
    assert get(rig, "/api/items/1") == b"GET /base/items/1 HTTP/1.1"
    assert get(rig, "/api/items/1") == b"GET /base/items/1 HTTP/1.1"  # from the cache
    assert get(rig, "/api/items/2") == b"GET /base/items/2 HTTP/1.1"
    assert get(rig, "/api/./items/%31") == b"GET /base/items/%31 HTTP/1.1"
    assert get(rig, "/api/nothing/here") == b"HTTP/1.1 404 Not Found"
    assert get(rig, "/api/nothing/here") == b"HTTP/1.1 404 Not Found"
    assert set(cached(rig)) == {b"GET /api/items/1", b"GET /api/items/2",
                                b"GET /api/./items/%31", b"GET /api/nothing/here"}
    assert cached(rig)[b"GET /api/nothing/here"] is None


def test_a_new_snapshot_empties_the_cache(rig: Rig) -> None:
    assert get(rig, "/api/items/1").startswith(b"GET /base/items/1")
    moved = {**CONFIG, "apis": [{**CONFIG["apis"][0], "path": "/v2"}]}  # type: ignore[dict-item]
    rig.state.install(build_snapshot(Config.model_validate(moved)))
    assert rig.state.routes == {}
    assert get(rig, "/api/items/1") == b"HTTP/1.1 404 Not Found"


def test_the_cache_is_bounded(rig: Rig, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(request_module, "ROUTE_CACHE_SIZE", 8)
    for i in range(30):
        assert get(rig, f"/api/items/{i}") == f"GET /base/items/{i} HTTP/1.1".encode()
        assert len(cached(rig)) <= 8


def test_the_cache_keeps_methods_apart_and_the_query_out(rig: Rig) -> None:
    assert get(rig, "/api/items?x=1") == b"HTTP/1.1 404 Not Found"  # GET /items: no operation
    rig.send(b"POST /api/items?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n")
    assert rig.upstream_sent().startswith(b"POST /base/items?x=1 HTTP/1.1\r\n")
    rig.reply(OK)
    assert get(rig, "/api/items/7?a=b&c") == b"GET /base/items/7?a=b&c HTTP/1.1"
    assert set(cached(rig)) == {b"GET /api/items", b"POST /api/items", b"GET /api/items/7"}

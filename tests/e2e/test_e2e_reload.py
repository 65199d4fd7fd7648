"""Configuration reloads on a running gateway: SIGHUP under load, broken configs,
and the file watcher of the single-process mode."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from e2e_support import Backend, Gateway, request, wait_until

pytestmark = pytest.mark.e2e


def config(backend: Backend, extra: int = 0) -> dict[str, Any]:
    apis = [{"name": "base", "path": "/base", "backend": backend.url,
             "operations": [{"method": "GET", "path": "/items/{id}"}]}]
    apis += [{"name": f"extra{i}", "path": f"/extra{i}", "backend": backend.url}
             for i in range(extra)]
    return {"apis": apis}


class Load:
    """N keep-alive clients hammering one path until stopped (bounded in count and time)."""

    def __init__(self, port: int, clients: int, seconds: float, max_requests: int = 20000) -> None:
        self.port = port
        self.ok = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.until = time.monotonic() + seconds
        self.max_requests = max_requests
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(clients)]

    def _client(self, n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        done = 0
        while time.monotonic() < self.until and done < self.max_requests:
            done += 1
            try:
                conn.request("GET", f"/base/items/{n}-{done}")
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or json.loads(body)["path"] != f"/items/{n}-{done}":
                    raise AssertionError(f"{resp.status} {body[:200]!r}")
                with self.lock:
                    self.ok += 1
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                with self.lock:
                    self.failures.append(f"client {n} request {done}: {exc!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self.threads:
            t.join(10)


def test_sighup_reload_under_load_loses_nothing(
        backend: Backend, make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(config(backend))
    assert gw.get("/extra3/x").status == 404
    with Load(gw.port, clients=6, seconds=3.0) as load:
        for extra in range(1, 5):
            time.sleep(0.5)
            gw.write_config(config(backend, extra))
            gw.signal(signal.SIGHUP)
    assert not load.failures, load.failures[:5]
    assert load.ok > 100
    r = gw.get("/extra3/some/path")
    assert r.status == 200 and r.json()["path"] == "/some/path"
    assert gw.status()["reloads"] >= 4


def errors_above(gw: Gateway, n: int) -> bool:
    return int(gw.status()["reload_errors"]) > n


def test_broken_config_keeps_old_snapshot_serving(
        backend: Backend, make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(config(backend, 1))
    broken = config(backend, 2)
    broken["apis"][2]["backend"] = "ftp://nowhere"
    for n, text in enumerate((json.dumps(broken), "apis: [\n  - {name: x, path: /x\n")):
        gw.write_config(text)
        gw.signal(signal.SIGHUP)
        assert wait_until(partial(errors_above, gw, n), 3)
        assert gw.get("/base/items/1").status == 200
        assert gw.get("/extra0/y").status == 200
        assert gw.get("/extra1/y").status == 404
    assert gw.status()["reload_errors"] >= 2
    assert gw.status()["snapshot"]["version"] == 1
    assert "reload failed" in gw.log_text()
    gw.write_config(config(backend, 2))  # a good config after bad ones is taken
    gw.signal(signal.SIGHUP)
    assert wait_until(lambda: gw.get("/extra1/y").status == 200, 3)


def test_file_change_reloads_without_signal(
        backend: Backend, make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(config(backend))
    assert gw.get("/extra0/z").status == 404
    time.sleep(0.05)
    gw.write_config(config(backend, 1))
    started = time.monotonic()
    assert wait_until(lambda: gw.get("/extra0/z").status == 200, 4)
    assert time.monotonic() - started < 3.5
    assert gw.status()["reloads"] >= 1


def test_reload_applies_declared_subscription_changes(backend: Backend,
                                                      make_gateway: Callable[..., Gateway]) -> None:
    """A key removed from (or added to) the file stops (or starts) working on reload."""
    api = {"name": "keyed", "path": "/keyed", "backend": backend.url,
           "subscription_required": True}
    old_key, new_key = "a" * 32, "b" * 32
    config = {"apis": [api], "subscriptions": [{"name": "one", "scope": "all",
                                                 "primary_key": old_key}]}
    gw = make_gateway(config)

    def status(key: str) -> int:
        return request(gw.port, "GET", "/keyed/x", headers={"Ocp-Apim-Subscription-Key": key}).status

    assert status(old_key) == 200 and status(new_key) == 401
    gw.write_config({"apis": [api], "subscriptions": [{"name": "two", "scope": "all",
                                                        "primary_key": new_key}]})
    assert wait_until(lambda: status(new_key) == 200, timeout=15)
    # refused: 401, or 429 once the polling above made this address look like a key guesser
    assert status(old_key) in (401, 429)


class DataPlaneFirst(Gateway):
    """Counts as started as soon as the data plane answers, before the admin app is up."""

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            return request(self.port, "GET", "/nothing-here").status == 404
        except OSError:
            return False


def test_a_change_written_while_the_gateway_starts_is_applied(backend: Backend,
                                                               tmp_path: Any) -> None:
    """The file watcher's baseline is the config as loaded: a change written while the
    listeners and the admin app start (here: as soon as the data plane answers) is a
    change. It was once taken after the admin app started, and such a change was lost."""
    first = {"name": "first", "path": "/first", "backend": backend.url}
    folder = tmp_path / "gw"
    folder.mkdir()
    gw = DataPlaneFirst(folder, {"apis": [first]})
    try:
        gw.write_config({"apis": [first, {**first, "name": "second", "path": "/second"}]})
        assert wait_until(lambda: request(gw.port, "GET", "/second/x").status == 200, 15), \
            gw.log_text()
    finally:
        gw.stop()

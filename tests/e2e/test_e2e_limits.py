"""Rate limits through real gateway processes: exact across workers and replicas, fail modes.

* memory: one gateway, ``--workers 2`` (the supervisor's host counter server);
* Redis at 127.0.0.1:6379: three gateways × two workers;
* faults: a private ``redis-server`` on a free port, stopped and restarted under load.
Every process started here is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_support import Backend, Gateway, free_port, request, wait_until

N = 37
WINDOW = 60
KEY_EXPR = '@(context.Request.Headers.GetValueOrDefault("X-Key","none"))'


def policy(calls: int, key: str, extra: str = "") -> str:
    return (f'<policies><inbound><rate-limit-by-key calls="{calls}" renewal-period="{WINDOW}" '
            f"counter-key='{key}' remaining-calls-header-name=\"X-Left\"{extra}/>"
            "</inbound><backend><forward-request/></backend><outbound/><on-error/></policies>")


def api(name: str, path: str, backend: Backend, xml: str) -> dict[str, Any]:
    return {"name": name, "path": path, "backend": backend.url, "policy": xml,
            "operations": [{"method": "GET", "path": "/items/{id}"}]}


def config(apis: list[dict[str, Any]], **counters: Any) -> dict[str, Any]:
    return {"gateway": {"counters": counters} if counters else {}, "apis": apis}


def blast(ports: list[int], total: int, clients: int, path: str = "/api/items/1",
          headers: dict[str, str] | None = None) -> tuple[list[tuple[int, str | None]], float]:
    """``total`` requests from ``clients`` threads, spread over ``ports``; (status, Retry-After)."""
    def one(i: int) -> tuple[int, str | None]:
        r = request(ports[i % len(ports)], "GET", path, headers=headers, timeout=20)
        return r.status, r.header("Retry-After")
    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        got = list(pool.map(one, range(total)))
    return got, time.monotonic() - start


def check_exact(got: list[tuple[int, str | None]], elapsed: float) -> None:
    statuses = [s for s, _ in got]
    assert statuses.count(200) == N, f"admitted {statuses.count(200)}, expected {N}"
    assert statuses.count(429) == len(got) - N
    for s, retry in got:
        if s == 429:
            assert retry is not None and retry.isdigit()
            # every admitted hit is at most `elapsed` old: the first frees within the window
            assert WINDOW - elapsed - 1 <= int(retry) <= WINDOW


def test_memory_store_is_exact_across_two_workers(
        backend: Backend, make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(config([api("orders", "/api", backend, policy(N, "one-shared-key"))]),
                      workers=2)
    got, elapsed = blast([gw.port], total=160, clients=100)
    check_exact(got, elapsed)
    assert backend.requests == N
    assert len([p for p in gw.status().get("workers", []) if p]) == 2


@pytest.fixture
def redis_keys() -> Iterator[list[str]]:
    """Counter keys used against the shared Redis; deleted afterwards."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Redis at 127.0.0.1:6379: {exc}")
    keys: list[str] = []
    yield keys
    for key in keys:
        client.delete(f"kg:{{rlk:{key}}}:rz", f"kg:{{rlk:{key}}}:rh")
    client.close()


def test_redis_store_is_exact_across_three_gateways(
        backend: Backend, make_gateway: Callable[..., Gateway], redis_keys: list[str]) -> None:
    key = f"e2e-{uuid.uuid4().hex}"
    redis_keys.append(key)
    cfg = config([api("orders", "/api", backend, policy(N, key))],
                 store="redis", redis_url="redis://127.0.0.1:6379/0")
    # one after the other: nine processes starting at once are slow on a small, busy box
    gateways = [make_gateway(cfg, workers=2) for _ in range(3)]
    got, elapsed = blast([g.port for g in gateways], total=300, clients=200)
    check_exact(got, elapsed)
    assert backend.requests == N


# -- Redis stopped and restarted ------------------------------------------------------
class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self.listening, 10), "redis-server did not start"

    def listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
            return True
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary not installed")
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


def timed(port: int, path: str, key: str) -> tuple[int, float, bytes]:
    start = time.monotonic()
    r = request(port, "GET", path, headers={"X-Key": key}, timeout=10)
    return r.status, time.monotonic() - start, r.body


def test_redis_outage_follows_fail_mode_and_recovers(
        backend: Backend, make_gateway: Callable[..., Gateway],
        private_redis: RedisServer) -> None:
    run = uuid.uuid4().hex
    cfg = config([api("open", "/open", backend, policy(3, KEY_EXPR, ' fail-mode="fail-open"')),
                  api("closed", "/closed", backend,
                      policy(3, KEY_EXPR, ' fail-mode="fail-closed"'))],
                 store="redis", redis_url=f"redis://127.0.0.1:{private_redis.port}/0",
                 timeout=0.25)
    gw = make_gateway(cfg)

    def statuses(path: str, key: str, n: int = 5) -> list[int]:
        return [timed(gw.port, path, key)[0] for _ in range(n)]

    assert statuses("/closed/items/1", f"pre-{run}") == [200, 200, 200, 429, 429]

    load_out: list[tuple[str, int, float]] = []
    stop_load = threading.Event()

    def load(path: str) -> None:
        while not stop_load.is_set():
            s, took, _ = timed(gw.port, path, f"load-{run}")
            load_out.append((path, s, took))

    threads = [threading.Thread(target=load, args=(p,), daemon=True)
               for p in ("/open/items/1", "/closed/items/1") * 2]
    for t in threads:
        t.start()
    time.sleep(0.3)
    private_redis.stop()
    down = [timed(gw.port, "/open/items/1", f"down-{run}") for _ in range(5)]
    assert [s for s, _, _ in down] == [200] * 5  # fail-open admits beyond the limit of 3
    closed = [timed(gw.port, "/closed/items/1", f"down-{run}") for _ in range(3)]
    assert [s for s, _, _ in closed] == [503] * 3
    assert b"Rate limit and quota store is unavailable" in closed[0][2]
    assert max(took for _, took, _ in down + closed) < 1.0

    private_redis.start()  # same port, empty data; the gateway keeps running
    assert wait_until(lambda: timed(gw.port, "/closed/items/1", f"probe-{run}")[0] == 200, 10)
    stop_load.set()
    for t in threads:
        t.join(15)
    assert gw.proc.poll() is None
    assert load_out and {s for p, s, _ in load_out if p == "/open/items/1"} <= {200, 429}
    assert {s for p, s, _ in load_out} <= {200, 429, 503}
    assert max(took for _, _, took in load_out) < 1.0

    assert statuses("/closed/items/1", f"post-{run}") == [200, 200, 200, 429, 429]
    assert statuses("/open/items/1", f"post-open-{run}") == [200, 200, 200, 429, 429]

"""Controller mode end to end: a real gateway process, a fake Kubernetes API server
speaking list/watch, and "pods" that are real HTTP servers on distinct loopback
addresses. Requests to a k8s:// backend are balanced over ready endpoints and
follow scale-up, scale-down and terminating endpoints without failures."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import Gateway, gateway_config, request, wait_until

from tests.sources.kubernetes.fakeapi import FakeApiServer, endpoint_slice, service

pytestmark = pytest.mark.e2e


class Pod:
    """An HTTP server on its own loopback address that answers with that address."""

    def __init__(self, address: str, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps({"pod": address, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def common_port(addresses: list[str]) -> int:
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for address in addresses[1:]:
                with socket.socket() as other:
                    other.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on every address")


class ApiThread:
    """The fake API server on its own event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: FakeApiServer = self.call(FakeApiServer(token="t0ken").start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def do(self, fn: Callable[..., Any], *args: Any) -> None:
        async def run() -> None:
            fn(*args)
        self.call(run())

    def close(self) -> None:
        self.call(self.server.stop())

        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.call(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[ApiThread, Path]]:
    api = ApiThread()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "c", "cluster": {"server": api.server.url}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}]}))
    yield api, kubeconfig
    api.close()


def test_k8s_backend_balances_over_ready_endpoints_and_follows_changes(
        cluster: tuple[ApiThread, Path], make_gateway: Callable[..., Gateway]) -> None:
    api, kubeconfig = cluster
    addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    port = common_port(addresses)
    pods = [Pod(a, port) for a in addresses]
    try:
        api.do(api.server.put, "services", service("shop", "orders", [
            {"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}]))
        api.do(api.server.put, "endpointslices", endpoint_slice(
            "shop", "orders", [(addresses[0], True, False), (addresses[1], True, False)], port))
        config = gateway_config([{"name": "orders", "path": "/orders",
                                  "backend": "k8s://shop/orders:http"}])
        gw = make_gateway(config, extra_args=("--kubernetes", "--kubeconfig", str(kubeconfig)))

        def spread(n: int) -> Counter[str]:
            seen: Counter[str] = Counter()
            for _ in range(n):
                r = request(gw.port, "GET", "/orders/items")
                assert r.status == 200, r.body
                seen[r.json()["pod"]] += 1
            return seen

        assert wait_until(lambda: set(spread(6)) == set(addresses[:2]), timeout=15)
        # scale up: the third pod joins
        api.do(api.server.put, "endpointslices", endpoint_slice(
            "shop", "orders", [(a, True, False) for a in addresses], port))
        assert wait_until(lambda: set(spread(9)) == set(addresses), timeout=10)
        # the first pod is terminating: no new request goes there, and none fails
        api.do(api.server.put, "endpointslices", endpoint_slice(
            "shop", "orders", [(addresses[0], False, True), (addresses[1], True, False),
                               (addresses[2], True, False)], port))
        assert wait_until(lambda: addresses[0] not in spread(8), timeout=10)
        assert addresses[0] not in spread(20)
    finally:
        for pod in pods:
            pod.close()


def test_k8s_backend_without_the_api_uses_cluster_dns_name(
        make_gateway: Callable[..., Gateway]) -> None:
    config = gateway_config([{"name": "orders", "path": "/orders",
                              "backend": "k8s://shop/orders:8080"}])
    gw = make_gateway(config)
    status = gw.status()
    assert status["snapshot"]["apis"][0]["backend"] == "k8s://shop/orders:8080"
    r = request(gw.port, "GET", "/orders/x")  # orders.shop.svc does not resolve here
    assert r.status == 502 and r.json()["statusCode"] == 502


def test_annotated_service_is_discovered_and_survives_scaling_under_load(
        cluster: tuple[ApiThread, Path], make_gateway: Callable[..., Gateway]) -> None:
    from kubegate.demo.services import orders_service

    api, kubeconfig = cluster
    addresses = ["127.0.0.5", "127.0.0.6"]
    port = common_port(addresses)
    pods = [orders_service().serve(a, port) for a in addresses]
    try:
        api.do(api.server.put, "services", service("shop", "orders", [
            {"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}],
            annotations={"kubegate.io/path": "/orders"}))
        api.do(api.server.put, "endpointslices", endpoint_slice(
            "shop", "orders", [(addresses[0], True, False)], port))
        gw = make_gateway({"apis": []},
                          extra_args=("--kubernetes", "--kubeconfig", str(kubeconfig)))
        # discovered: the spec was fetched from the pod and its operations imported
        assert wait_until(lambda: request(gw.port, "GET", "/orders/api/orders/1").status == 200,
                          timeout=20), gw.log_text()[-2000:]
        assert request(gw.port, "DELETE", "/orders/api/orders/1").status == 404  # not in spec

        failures: list[str] = []
        stop = threading.Event()

        def load() -> None:
            for _ in range(5000):  # bounded; stopped by the test long before
                if stop.is_set():
                    return
                r = request(gw.port, "GET", "/orders/api/orders")
                if r.status != 200:
                    failures.append(f"{r.status} {r.body[:100]!r}")

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for slice_ in ([(addresses[0], True, False), (addresses[1], True, False)],
                           [(addresses[0], False, True), (addresses[1], True, False)],
                           [(addresses[1], True, False)],
                           [(addresses[0], True, False), (addresses[1], True, False)]):
                api.do(api.server.put, "endpointslices",
                       endpoint_slice("shop", "orders", slice_, port))
                threading.Event().wait(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert not failures, failures[:5]
    finally:
        for pod in pods:
            pod.shutdown()
            pod.server_close()

"""Metrics scraped after a known sequence of requests; access log lines; request ids."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import Backend, Gateway, gateway_config, request, wait_until

pytestmark = pytest.mark.e2e


def counter(metrics: str, api: str, status_class: str) -> float:
    pattern = (rf'kubegate_requests_total\{{api="{re.escape(api)}",operation="[^"]*",'
               rf'status_class="{status_class}",subscription="none"\}} ([0-9.]+)')
    return sum(float(m) for m in re.findall(pattern, metrics))


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_a_known_sequence(backend: Backend, make_gateway: Callable[..., Gateway],
                                        workers: int) -> None:
    config = gateway_config([{"name": "obs", "path": "/obs", "backend": backend.url,
                              "operations": [{"method": "GET", "path": "/echo/{x}", "id": "echo"}]}],
                            workers=workers)
    gw = make_gateway(config)
    for i in range(7):
        assert request(gw.port, "GET", f"/obs/echo/{i}").status == 200
    for _ in range(3):
        assert request(gw.port, "GET", "/obs/unknown").status == 404

    def scraped() -> bool:
        text = gw.admin("/metrics").body.decode()
        return counter(text, "obs", "2xx") == 7 and counter(text, "-", "4xx") == 3

    # workers dump their metrics to the supervisor every second
    assert wait_until(scraped, timeout=10), gw.admin("/metrics").body.decode()[:2000]


def test_access_log_and_request_ids(backend: Backend, make_gateway: Callable[..., Gateway],
                                    tmp_path: Path) -> None:
    log_file = tmp_path / "access.log"
    config = gateway_config([{"name": "obs", "path": "/obs", "backend": backend.url}],
                            observability={"access_log": str(log_file)})
    gw = make_gateway(config)
    generated = request(gw.port, "GET", "/obs/echo/a")
    rid = generated.header("X-Request-Id")
    assert rid and rid in json.dumps(generated.json()["headers"])  # the backend saw it too
    passed = request(gw.port, "GET", "/obs/echo/b", headers={"X-Request-Id": "client-chosen-1"})
    assert passed.header("X-Request-Id") == "client-chosen-1"

    def logged() -> bool:
        return log_file.exists() and len(log_file.read_text().splitlines()) >= 2

    assert wait_until(logged, timeout=10)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {line["request_id"] for line in lines} >= {rid, "client-chosen-1"}
    first = next(line for line in lines if line["request_id"] == rid)
    assert (first["api"], first["status"], first["client_ip"]) == ("obs", 200, "127.0.0.1")
    assert first["duration_ms"] >= first["backend_ms"] >= 0


@pytest.mark.parametrize("outbound", [False, True])
def test_request_ids_on_policy_routes(backend: Backend, make_gateway: Callable[..., Gateway],
                                      outbound: bool) -> None:
    """Operations with policies (streamed or buffered) carry the same request id as plain
    ones, and context.RequestId is that id."""
    policy = ("<policies><inbound><set-header name=\"x-ctx-id\" exists-action=\"override\">"
              "<value>@(context.RequestId)</value></set-header></inbound><backend>"
              "<forward-request /></backend><outbound>"
              + ("<set-header name=\"x-out\" exists-action=\"override\"><value>1</value>"
                 "</set-header>" if outbound else "") + "</outbound><on-error /></policies>")
    config = gateway_config([{"name": "pol", "path": "/pol", "backend": backend.url,
                              "policy": policy}])
    gw = make_gateway(config)
    generated = request(gw.port, "GET", "/pol/echo/a")
    rid = generated.header("X-Request-Id")
    seen = {k.lower(): v for k, v in generated.json()["headers"]}
    assert rid and seen["x-request-id"] == rid and seen["x-ctx-id"] == rid
    passed = request(gw.port, "GET", "/pol/echo/b", headers={"X-Request-Id": "client-chosen-2"})
    seen = {k.lower(): v for k, v in passed.json()["headers"]}
    assert passed.header("X-Request-Id") == "client-chosen-2" == seen["x-request-id"]
    assert seen["x-ctx-id"] == "client-chosen-2"
    assert (passed.header("x-out") == "1") == outbound


@pytest.mark.parametrize("streamed", [True, False])
def test_metrics_and_access_log_name_the_subscription(
        backend: Backend, make_gateway: Callable[..., Gateway], tmp_path: Path,
        streamed: bool) -> None:
    """Requests admitted by a subscription key are counted under that subscription, on the
    streaming hand-off and on the buffered policy path (an outbound policy)."""
    log_file = tmp_path / "access.log"
    key = "0123456789abcdef0123456789abcdef"
    api: dict[str, object] = {"name": "keyed", "path": "/keyed", "backend": backend.url,
                              "subscription_required": True}
    if not streamed:
        api["policy"] = ("<policies><inbound /><backend><forward-request /></backend><outbound>"
                         "<set-header name=\"x-out\" exists-action=\"override\"><value>1</value>"
                         "</set-header></outbound><on-error /></policies>")
    config = gateway_config([api], observability={"access_log": str(log_file)})
    config["subscriptions"] = [{"name": "team-a", "scope": "all", "primary_key": key}]
    gw = make_gateway(config)
    for i in range(3):
        assert request(gw.port, "GET", f"/keyed/{i}",
                       headers={"Ocp-Apim-Subscription-Key": key}).status == 200
    assert request(gw.port, "GET", "/keyed/x").status == 401

    def scraped() -> bool:
        text = gw.admin("/metrics").body.decode()
        return re.search(r'kubegate_requests_total\{api="keyed",[^}]*status_class="2xx",'
                         r'subscription="static:team-a"\} 3', text) is not None

    assert wait_until(scraped, timeout=10), gw.admin("/metrics").body.decode()[:3000]
    assert wait_until(lambda: log_file.exists() and len(log_file.read_text().splitlines()) >= 4,
                      timeout=10)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [line["subscription"] for line in lines if line["status"] == 200] == ["static:team-a"] * 3
    assert [line["subscription"] for line in lines if line["status"] == 401] == [None]

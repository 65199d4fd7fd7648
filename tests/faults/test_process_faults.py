"""Process faults under continuous load, with policies on: a worker SIGKILLed, config
reloads through the supervisor, and SIGTERM of a busy gateway.

tests/e2e/test_e2e_lifecycle.py and test_e2e_reload.py cover the same signals with
a single worker, no policies, or new-connection load; these add keep-alive load,
policy pipelines and the supervisor's SIGHUP forwarding, and count what clients saw.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import Backend, Gateway, wait_until
from faults_support import Load

pytestmark = pytest.mark.e2e


def policy(value: str) -> str:
    return ('<policies><inbound><check-header name="X-Client" failed-check-httpcode="401" '
            'failed-check-error-message="no" ignore-case="true"><value>load</value>'
            f'</check-header><set-header name="X-Version" exists-action="override"><value>{value}'
            '</value></set-header><base /></inbound><backend><base /></backend><outbound><base />'
            '</outbound><on-error><base /></on-error></policies>')


def config(backend: Backend, version: str = "v0", extra: int = 0) -> dict[str, Any]:
    apis = [{"name": "svc", "path": "/svc", "backend": backend.url, "policy": policy(version)}]
    apis += [{"name": f"extra{i}", "path": f"/extra{i}", "backend": backend.url}
             for i in range(extra)]
    return {"gateway": {"timeouts": {"shutdown_grace": 10}}, "apis": apis}


HEADERS = {"X-Client": "load"}


def ready_workers(gw: Gateway, n: int) -> bool:
    try:
        status = gw.status()
    except (OSError, ValueError):
        return False
    ready = status.get("ready", [])
    return sum(1 for p in status.get("workers", []) if p) == n and len(ready) == n and all(ready)


def test_worker_sigkill_under_keepalive_load_others_keep_serving(
        make_backend: Callable[[], Backend], make_gateway: Callable[..., Gateway]) -> None:
    backend = make_backend()
    gw = make_gateway(config(backend), workers=3)
    assert wait_until(lambda: ready_workers(gw, 3), 30), gw.status()
    pids = gw.status()["workers"]
    load = Load(gw.port, "/svc/k", threads=6, max_seconds=25, headers=HEADERS)
    try:
        assert load.wait_for(100, 10)
        victim = pids[0]
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: victim not in gw.status()["workers"]
                          and ready_workers(gw, 3), 20), gw.status()
        back = time.monotonic()
        time.sleep(0.5)
    finally:
        outcomes = load.stop()
    during = [o for o in outcomes if killed + 0.2 < o.at < back]
    assert [o for o in during if o.status == 200], "no request served while the worker was down"
    late = [o for o in outcomes if o.at > killed + 0.5 and o.status != 200]
    assert not late, late[:5]
    failed = [o for o in outcomes if o.status != 200]
    assert len(failed) <= 6, failed  # at most the in-flight request of each client on the victim
    assert all(o.status is None for o in failed)  # a reset, never a wrong answer
    assert gw.status()["restarts"] >= 1


def test_reload_through_supervisor_under_load_loses_nothing(
        make_backend: Callable[[], Backend], make_gateway: Callable[..., Gateway]) -> None:
    backend = make_backend()
    gw = make_gateway(config(backend), workers=2)
    assert wait_until(lambda: ready_workers(gw, 2), 30), gw.status()
    load = Load(gw.port, "/svc/r", threads=6, max_seconds=20, headers=HEADERS)
    try:
        assert load.wait_for(50, 10)
        for n in range(1, 5):  # bounded: four reloads
            gw.write_config(config(backend, f"v{n}", extra=n))
            gw.signal(signal.SIGHUP)
            time.sleep(0.6)
        assert wait_until(lambda: gw.get("/extra3/x").status == 200, 10)
        time.sleep(0.3)
    finally:
        outcomes = load.stop()
    assert len(outcomes) > 100
    bad = [o for o in outcomes if o.status != 200]
    assert not bad, bad[:5]
    seen = gw.get("/svc/after", headers=HEADERS).json()["headers"]
    assert ["X-Version", "v4"] in seen or ("X-Version", "v4") in [tuple(h) for h in seen]


def test_sigterm_under_continuous_load_fails_no_in_flight_request(
        make_backend: Callable[[], Backend], make_gateway: Callable[..., Gateway]) -> None:
    backend = make_backend()
    gw = make_gateway(config(backend))
    load = Load(gw.port, "/svc/t?sleep=0.2", threads=8, max_seconds=20, headers=HEADERS)
    try:
        assert load.wait_for(40, 10)
        answered = len([o for o in load.outcomes if o.status == 200])
        in_flight = backend.requests - answered
        gw.signal(signal.SIGTERM)
        assert gw.wait(15) == 0
    finally:
        outcomes = load.stop()
    assert in_flight > 0, "nothing was in flight at SIGTERM"
    served = [o for o in outcomes if o.status == 200]
    wrong = [o for o in outcomes if o.status is not None and o.status != 200]
    assert not wrong, wrong[:5]
    # every request that reached the backend was answered to its client
    assert len(served) == backend.requests, (len(served), backend.requests)


def test_reload_while_a_worker_restarts_does_not_kill_it(
        make_backend: Callable[[], Backend], make_gateway: Callable[..., Gateway]) -> None:
    backend = make_backend()
    gw = make_gateway(config(backend), workers=2)
    assert wait_until(lambda: ready_workers(gw, 2), 30), gw.status()
    os.kill(gw.status()["workers"][1], signal.SIGKILL)
    assert wait_until(lambda: gw.status()["restarts"] >= 1 and gw.status()["workers"][1], 10)
    gw.signal(signal.SIGHUP)  # the new worker is importing: not ready yet
    time.sleep(1.0)
    assert gw.status()["restarts"] == 1, "the reload killed the starting worker"
    assert wait_until(lambda: ready_workers(gw, 2), 20), gw.status()

"""Redis stopped (SIGKILL) and restarted under load, with a rate-limit-by-key policy
counted in Redis, in fail-open and fail-closed mode. The Redis server is our own,
on a free port; the machine's Redis is never touched."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import Backend, Gateway, wait_until
from faults_support import Load, RedisServer

pytestmark = pytest.mark.e2e


def _rate_limit_registered() -> bool:
    import kubegate.policies.builtin  # noqa: F401 - registers the built-in policies
    from kubegate.policies.registry import lookup

    return lookup("rate-limit-by-key") is not None


POLICY = ('<policies><inbound><rate-limit-by-key calls="{calls}" renewal-period="60" '
          'counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Who&quot;,&quot;anon&quot;))" />'
          '<base /></inbound><backend><base /></backend><outbound><base /></outbound>'
          '<on-error><base /></on-error></policies>')


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    try:
        server = RedisServer(tmp_path)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


def burst(gw: Gateway, who: str, n: int) -> list[int]:
    return [gw.get("/rl/x", headers={"X-Who": who}, timeout=5).status for _ in range(n)]


@pytest.mark.parametrize("mode", ["fail-open", "fail-closed"])
def test_redis_outage_under_load(mode: str, redis: RedisServer, make_backend: Callable[[], Backend],
                                 make_gateway: Callable[..., Gateway]) -> None:
    if not _rate_limit_registered():
        pytest.skip("rate-limit-by-key is not registered yet (kubegate/policies/builtin)")
    backend = make_backend()
    gw = make_gateway({
        "gateway": {"counters": {"store": "redis", "redis_url": redis.url, "fail_mode": mode,
                                 "timeout": 0.25}},
        "apis": [{"name": "rl", "path": "/rl", "backend": backend.url,
                  "policy": POLICY.format(calls=5)},
                 {"name": "big", "path": "/big", "backend": backend.url,  # the load's budget
                  "policy": POLICY.format(calls=1_000_000)},
                 {"name": "free", "path": "/free", "backend": backend.url}]})
    first = f"a-{uuid.uuid4().hex}"
    assert burst(gw, first, 6) == [200] * 5 + [429]  # counted in Redis
    load = Load(gw.port, "/big/x", threads=4, max_seconds=30, headers={"X-Who": "load"},
                timeout=5)
    try:
        assert load.wait_for(50, 10)
        down = time.monotonic()
        redis.stop()
        time.sleep(1.5)
        free_during = [gw.get("/free/x", timeout=3).status for _ in range(5)]
        up = time.monotonic()
        redis.start()
        assert wait_until(lambda: gw.get("/big/x", headers={"X-Who": "probe2"},
                                         timeout=3).status == 200, 15)
        recovered = time.monotonic()
        time.sleep(0.5)
    finally:
        outcomes = load.stop()
    assert free_during == [200] * 5  # operations without limits never depend on Redis
    outage = [o for o in outcomes if down + 0.5 < o.at < up]
    assert outage, "no request ran during the outage"
    errors = [o for o in outcomes if o.status is None]
    assert not errors, errors[:3]  # never a dropped connection
    if mode == "fail-open":
        assert all(o.status == 200 for o in outcomes), {o.status for o in outcomes}
    else:
        assert {o.status for o in outage} == {503}, {o.status for o in outage}
        assert all(o.status in (200, 503) for o in outcomes)
        after = [o for o in outcomes if o.at > recovered]
        assert after and all(o.status == 200 for o in after)
    # each request during the outage was answered within the counter timeout (plus slack)
    assert len(outage) > (up - down - 0.5) * 4 * 2, len(outage)
    second = f"b-{uuid.uuid4().hex}"
    assert burst(gw, second, 6) == [200] * 5 + [429]  # limits enforced again

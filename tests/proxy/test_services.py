"""Which counter store a worker uses, from configuration and environment."""

from __future__ import annotations

import pytest

from kubegate.model.config import Config
from kubegate.proxy.services import COUNTER_SOCKET_ENV, counter_store
from kubegate.services.counters import HostCounterClient, MemoryCounterStore
from kubegate.services.counters.redis_store import RedisCounterStore


def test_memory_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEGATE_REDIS_URL", raising=False)
    monkeypatch.delenv(COUNTER_SOCKET_ENV, raising=False)
    assert isinstance(counter_store(Config()), MemoryCounterStore)


def test_workers_share_the_supervisors_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEGATE_REDIS_URL", raising=False)
    monkeypatch.setenv(COUNTER_SOCKET_ENV, "/tmp/kubegate-test-counters.sock")
    assert isinstance(counter_store(Config()), HostCounterClient)


def test_redis_from_config_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEGATE_REDIS_URL", raising=False)
    config = Config.model_validate({"gateway": {"counters": {
        "store": "redis", "redis_url": "redis://127.0.0.1:6379/0"}}})
    assert isinstance(counter_store(config), RedisCounterStore)
    with pytest.raises(ValueError, match="redis needs counters.redis_url"):
        Config.model_validate({"gateway": {"counters": {"store": "redis"}}})
    monkeypatch.setenv("KUBEGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert isinstance(counter_store(Config()), RedisCounterStore)

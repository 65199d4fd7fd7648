"""The run-time services policies use in one worker process, built once.

How this works: `WorkerServices` builds the counter store, the subscription key
index, the OpenID/JWKS registry, a value cache and the `send-request` HTTP client
from the gateway configuration. Its `mapping` is handed to every policy
compilation (`CompileEnv.services`), so a reload keeps counters, keys and JWKS
caches. Counters: memory in a single process; with `--workers N` the supervisor's
host counter server (its socket path in KUBEGATE_COUNTER_SOCKET) so limits stay
exact across workers; Redis when configured, exact across replicas.

Invariant: `start()` runs inside the worker's event loop before it serves, and
`close()` after it stopped serving.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from kubegate.compile.backends import parse_backend
from kubegate.model.config import REDIS_URL_ENV, Config
from kubegate.model.errors import ConfigError
from kubegate.policies.errors import BackendError
from kubegate.services.counters import CounterStore, HostCounterClient, MemoryCounterStore
from kubegate.services.jwt import OpenIdRegistry
from kubegate.services.keys import KeyIndex

log = logging.getLogger("kubegate.services")
COUNTER_SOCKET_ENV = "KUBEGATE_COUNTER_SOCKET"
STORE_ENV = "KUBEGATE_STORE"


def counter_store(config: Config) -> CounterStore:
    """Redis when configured (or when KUBEGATE_REDIS_URL is set, as the Helm chart does
    for several replicas); else the host's counters; else this process's memory."""
    counters = config.gateway.counters
    redis_url = counters.redis_url or os.environ.get(REDIS_URL_ENV)
    if counters.store == "redis" or redis_url:
        from kubegate.services.counters.redis_store import RedisCounterStore

        assert redis_url is not None
        return RedisCounterStore.from_url(redis_url, cluster=counters.redis_cluster,
                                          timeout=counters.timeout)
    socket_path = os.environ.get(COUNTER_SOCKET_ENV)
    if socket_path:
        return HostCounterClient(socket_path, timeout=counters.timeout)
    return MemoryCounterStore()


def open_store(config: Config) -> Any:
    """The subscriptions store (`gateway.store`, else env KUBEGATE_STORE), or None.
    One per process: the key index and the admin overlay share it."""
    url = config.gateway.store or os.environ.get(STORE_ENV)
    if not url:
        return None
    from kubegate.store import Store

    return Store(url)


class WorkerServices:
    def __init__(self, config: Config, store: Any = None) -> None:
        self.counters = counter_store(config)
        self.keys = KeyIndex(store, static_subscriptions=config.subscriptions,
                             static_products=config.products)
        self.openid = OpenIdRegistry()
        self._state: Callable[[], Any] = lambda: None  # the worker's ServerState (bind)
        self.mapping: dict[str, Any] = {
            "counters": self.counters,
            "keys": self.keys,
            "openid": self.openid,
            "http": self.http,
            "fail_mode": config.gateway.counters.fail_mode,
        }

    def bind(self, state: Callable[[], Any]) -> None:
        self._state = state

    def reconfigure(self, config: Config) -> None:
        """A reloaded configuration: its declared subscriptions and products apply now."""
        self.keys.set_static(config.subscriptions, config.products)

    async def start(self) -> None:
        self.keys.load()
        self.keys.start()

    async def close(self) -> None:
        await self.keys.stop()
        await self.counters.close()

    async def http(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None,
                   timeout: float, certificate: Any = None, proxy: Any = None
                   ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """The `send-request` client: one buffered request through the worker's pools,
        answered within `timeout` seconds (else a 504). `url` is http(s), or a Service
        (`k8s://ns/svc:port/path`, `nodeport://...`). `certificate` (a client
        certificate) and `proxy` (a ProxyRoute) choose the way as for the backend call
        (egress.py: forward-request's redirect hops)."""
        import asyncio

        from kubegate.proxy import egress
        from kubegate.proxy.forward import forward

        origin, path = split_url(url)
        try:
            backend = parse_backend(origin, "send-request")
        except (ConfigError, ValueError) as exc:
            log.info("send-request: invalid URL %r: %s", url, exc)
            raise BackendError(500, f"send-request: invalid URL {url!r}") from None
        state = self._state()
        pool = None
        extra: list[tuple[bytes, bytes]] = []
        if certificate is not None or proxy is not None:
            pool, backend, extra = egress.route(state.pools, backend, certificate, proxy)
        try:
            return await asyncio.wait_for(
                forward(state, backend, method, path, headers, body, extra, state.max_body, pool),
                timeout)
        except TimeoutError:
            raise BackendError(504, f"send-request: no answer within {timeout:g} s") from None


def split_url(url: str) -> tuple[str, str]:
    """(origin, path and query) of an absolute URL. The origin of a Service URL
    (`k8s://ns/svc:port/path`) names namespace and service, as parse_backend reads it."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("k8s", "nodeport"):
        namespace, _, after = rest.partition("/")
        end = min([i for i in (after.find(c) for c in "/?#") if i >= 0], default=len(after))
        tail = after[end:]
        parts = urlsplit("http://service" + (tail if tail.startswith("/") else "/" + tail))
        origin = f"{scheme.lower()}://{namespace}/{after[:end]}"
    else:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return origin, path

"""A reflector keeps a local cache of one resource kind in one namespace (or all
namespaces / cluster-scoped) equal to the API server's, and reports changes.

How it works: list (cache := items, rv := list's resourceVersion), then watch
from rv. ADDED/MODIFIED/DELETED update the cache and are passed on; BOOKMARK
only moves rv. When the watch stream ends cleanly it is reopened from rv. On 410
Gone, a broken or silent stream (read timeout) or any API error it relists and
DIFFs the new list against the cache, emitting synthetic ADDED/MODIFIED/DELETED
for what changed while it was not watching. Failures back off exponentially with
jitter (sleep and random source are injectable).

Invariants: the cache is never cleared because the API server is away (the last
known state keeps serving); every event handed to the callback has already been
applied to the cache; an exception in the callback or the API never ends `run()`
(only cancellation does).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubegate.sources.kubernetes.client import ApiUnavailable, Gone, Obj

log = logging.getLogger("kubegate.kubernetes")
Callback = Callable[[str, str, Obj], None]  # (event type, kind, object)
Sleep = Callable[[float], Awaitable[None]]


class ListWatch(Protocol):
    async def list(self, kind: str, namespace: str | None = None) -> tuple[list[Obj], str]: ...

    def watch(
        self, kind: str, namespace: str | None, resource_version: str, read_timeout: float
    ) -> Any: ...


def object_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


@dataclass
class Backoff:
    """Exponential backoff with full jitter between `initial` and `maximum`."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


class Reflector:
    def __init__(
        self,
        api: ListWatch,
        kind: str,
        namespace: str | None,
        callback: Callback,
        *,
        read_timeout: float = 300.0,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.api, self.kind, self.namespace = api, kind, namespace
        self.callback = callback
        self.read_timeout = read_timeout
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.cache: dict[str, Obj] = {}
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.connected = False
        self.last_error: str | None = None
        self.relists = 0

    def _emit(self, type_: str, obj: Obj) -> None:
        try:
            self.callback(type_, self.kind, obj)
        except Exception:  # noqa: BLE001 - a consumer bug must not stop the watch
            log.exception("kubernetes %s callback failed", self.kind)

    def apply(self, type_: str, obj: Obj) -> None:
        key = object_key(obj)
        if type_ == "DELETED":
            if self.cache.pop(key, None) is None:
                return
        elif type_ in ("ADDED", "MODIFIED"):
            type_ = "MODIFIED" if key in self.cache else "ADDED"
            self.cache[key] = obj
        else:
            return
        self._emit(type_, obj)

    async def relist(self) -> None:
        items, rv = await self.api.list(self.kind, self.namespace)
        self.relists += 1
        fresh = {object_key(o): o for o in items}
        for key in sorted(set(self.cache) - set(fresh)):
            self.apply("DELETED", self.cache[key])
        for key in sorted(fresh):
            old = self.cache.get(key)
            new = fresh[key]
            if old is None or _rv(old) != _rv(new) or old != new:
                self.apply("MODIFIED" if old else "ADDED", new)
        self.resource_version = rv
        self.synced.set()

    async def watch_once(self) -> None:
        assert self.resource_version is not None
        stream = self.api.watch(self.kind, self.namespace, self.resource_version, self.read_timeout)
        async for type_, obj in stream:
            self.connected = True
            self.backoff.reset()
            rv = _rv(obj)
            if type_ == "BOOKMARK":
                if rv:
                    self.resource_version = rv
                continue
            self.apply(type_, obj)
            if rv:
                self.resource_version = rv

    async def run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                    self.connected = True
                    self.last_error = None
                await self.watch_once()
                continue  # the server closed the stream normally: watch again from rv
            except asyncio.CancelledError:
                raise
            except Gone as exc:
                self._failed(exc)
                need_list = True
                if self.backoff.attempt == 0:  # relist at once: only rv is too old
                    self.backoff.attempt = 1
                    continue
            except ApiUnavailable as exc:
                self._failed(exc)
            except Exception as exc:  # noqa: BLE001 - never crash on API surprises
                log.exception("kubernetes %s reflector error", self.kind)
                self._failed(exc)
            need_list = True
            await self.sleep(self.backoff.next())

    def _failed(self, exc: BaseException) -> None:
        self.connected = False
        self.last_error = str(exc) or type(exc).__name__
        log.warning("kubernetes %s/%s: %s", self.kind, self.namespace or "*", self.last_error)


def _rv(obj: Obj) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return None if value is None else str(value)

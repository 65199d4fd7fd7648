"""Discovery (controller mode): annotated Services -> `Api` entries, ConfigMaps ->
policy documents.

A Service is discovered when it carries `kubegate.io/path`. Other annotations:
`kubegate.io/openapi` (path on the service, default /swagger/v1/swagger.json;
"none" = forward everything, no import), `kubegate.io/port` (name or number;
default the only/first port), `kubegate.io/policy` (ConfigMap in the same
namespace holding `policy.xml`), `kubegate.io/product`.

How it works: cluster changes mark Services dirty (a Service change, or a change
of its EndpointSlices or policy ConfigMap); `refresh()` rebuilds the dirty ones
(fetching the OpenAPI document from a ready endpoint, else the cluster DNS name)
and `run()` calls it on every change and every `resync` seconds for all.

Invariants: a failed fetch or import keeps the last good Api and records a
status entry plus a Kubernetes Event (once per distinct message); a bad policy
document keeps the last good text; `current()` is sorted by name and two
Services claiming one path resolve to the smaller (namespace, name), so
replicas watching independently converge on the same result.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubegate.model.config import Api
from kubegate.model.errors import ConfigError
from kubegate.sources.apim.xml_loader import load_policy_xml
from kubegate.sources.kubernetes.cluster import ClusterState
from kubegate.sources.kubernetes.endpoints import EndpointTable
from kubegate.sources.kubernetes.resolve import Obj, service_port
from kubegate.sources.openapi.importer import import_api

log = logging.getLogger("kubegate.kubernetes")
PREFIX = "kubegate.io/"
DEFAULT_OPENAPI = "/swagger/v1/swagger.json"
Fetch = Callable[[str], Awaitable[bytes]]
EventSink = Callable[[str, Obj, str, str], Awaitable[None]]  # (namespace, object, reason, message)


@dataclass
class Status:
    ok: bool
    message: str
    source: str = ""


async def http_fetch(url: str, timeout: float = 10.0) -> bytes:
    import httpx2 as httpx

    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        response = await client.get(url, headers={"Accept": "application/json, application/yaml"})
        response.raise_for_status()
        return response.content


def _api_name(ns: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", f"{ns}-{name}")


class Discovery:
    def __init__(
        self,
        cluster: ClusterState,
        table: EndpointTable | None = None,
        fetch: Fetch = http_fetch,
        *,
        events: EventSink | None = None,
        resync: float = 300.0,
    ) -> None:
        self.cluster = cluster
        self.table = table or EndpointTable(cluster)
        self.fetch, self.events, self.resync = fetch, events, resync
        self._apis: dict[tuple[str, str], Api] = {}
        self._products: dict[tuple[str, str], str] = {}
        self._policies: dict[str, str] = {}
        self.status: dict[str, Status] = {}
        self._reported: dict[str, str] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._subscribers: list[Callable[[], None]] = []
        self._published: tuple[object, ...] = ()
        cluster.subscribe(self._on_event)

    # -- public -------------------------------------------------------------
    def current(self) -> list[Api]:
        chosen: dict[str, Api] = {}
        for key in sorted(self._apis):
            api = self._apis[key]
            if api.path not in chosen:
                chosen[api.path] = api
            else:
                self.status[api.name] = Status(
                    False, f"path {api.path} already used by {chosen[api.path].name}"
                )
        return sorted(chosen.values(), key=lambda a: a.name)

    def policies(self) -> dict[str, str]:
        """Policy XML text by "namespace/configmap"."""
        return dict(sorted(self._policies.items()))

    def products(self) -> dict[str, list[str]]:
        names = {a.name for a in self.current()}
        out: dict[str, list[str]] = {}
        for key in sorted(self._products):
            api = _api_name(*key)
            if api in names:
                out.setdefault(self._products[key], []).append(api)
        return out

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    async def run(self) -> None:
        await self.cluster.wait_synced()
        self._dirty.update(self._annotated())
        while True:
            await self.refresh()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.resync)
            except TimeoutError:
                self._dirty.update(self._annotated())

    async def refresh(self, everything: bool = False) -> None:
        """Rebuild dirty Services (all annotated ones when `everything`)."""
        if everything:
            self._dirty.update(self._annotated())
        while self._dirty:
            key = min(self._dirty)
            self._dirty.discard(key)
            try:
                await self._sync_service(key)
            except Exception as exc:  # noqa: BLE001 - one service must not stop the rest
                log.exception("discovery of %s/%s failed", *key)
                self.status[_api_name(*key)] = Status(False, f"internal error: {exc}")
        self._publish()

    # -- internals ----------------------------------------------------------
    def _annotated(self) -> set[tuple[str, str]]:
        return {k for k, s in self.cluster.services.items() if _ann(s, "path")} | set(self._apis)

    def _on_event(self, type_: str, kind: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if kind == "services":
            self._dirty.add((ns, name))
        elif kind == "endpointslices":
            svc = (meta.get("labels") or {}).get("kubernetes.io/service-name")
            if svc and (ns, svc) in self._apis:
                self._dirty.add((ns, svc))
        elif kind == "configmaps":
            for key, service in self.cluster.services.items():
                if key[0] == ns and _ann(service, "policy") == name:
                    self._dirty.add(key)
        else:
            return
        self._wake.set()

    async def _sync_service(self, key: tuple[str, str]) -> None:
        ns, name = key
        api_name = _api_name(ns, name)
        service = self.cluster.services.get(key)
        path = _ann(service, "path") if service else None
        if service is None or not path:
            if self._apis.pop(key, None) is not None:
                self.status.pop(api_name, None)
            self._products.pop(key, None)
            return
        port = _ann(service, "port") or ""
        sp = service_port(service, port) or ((service.get("spec") or {}).get("ports") or [{}])[0]
        port = port or str(sp.get("name") or sp.get("port") or "")
        backend = f"k8s://{ns}/{name}:{port}"
        product = _ann(service, "product")
        if product:
            self._products[key] = product
        else:
            self._products.pop(key, None)
        policy = await self._policy(ns, _ann(service, "policy"), service)
        openapi = _ann(service, "openapi") or DEFAULT_OPENAPI
        if openapi.lower() == "none":
            api = Api(name=api_name, path=path, backend=backend, policy=policy)
            self._set(key, api, Status(True, "no OpenAPI import (kubegate.io/openapi: none)"))
            return
        url = self._spec_url(backend, openapi)
        try:
            body = await self.fetch(url)
            result = import_api(
                url,
                path=path,
                name=api_name,
                backend=backend,
                fetch=lambda u, t: (body, u) if u == url else _no_remote(u),
            )
            api = result.api.model_copy(update={"policy": policy})
        except ConfigError as exc:
            await self._fail(
                key, service, "OpenAPIImportFailed", f"{url}: " + "; ".join(map(str, exc.problems))
            )
            return
        except Exception as exc:  # noqa: BLE001 - network errors of any library
            await self._fail(
                key, service, "OpenAPIFetchFailed", f"{url}: {type(exc).__name__}: {exc}"
            )
            return
        self._set(key, api, Status(True, f"imported {len(api.operations or [])} operations", url))

    def _spec_url(self, backend: str, path: str) -> str:
        addresses = self.table.resolve(backend)
        if not addresses:
            ref = self.table.ref(backend)
            addresses = [(ref.dns_name, int(ref.port) if ref.port.isdigit() else 80)]
        host, port = addresses[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/{path.lstrip('/')}"

    async def _policy(self, ns: str, cm_name: str | None, service: Obj) -> str | None:
        if not cm_name:
            return None
        name = f"{ns}/{cm_name}"
        cm = self.cluster.configmaps.get((ns, cm_name))
        text = ((cm or {}).get("data") or {}).get("policy.xml")
        if text is None:
            await self._report(
                name, service, ns, "PolicyMissing", f"ConfigMap {name} has no policy.xml"
            )
            return self._policies.get(name)
        try:
            load_policy_xml(text, f"configmap:{name}/policy.xml")
        except ConfigError as exc:
            await self._report(
                name, cm or service, ns, "PolicyInvalid", "; ".join(map(str, exc.problems))
            )
            return self._policies.get(name)
        self._policies[name] = text
        self.status[name] = Status(True, "policy loaded")
        self._reported.pop(name, None)
        return text

    def _set(self, key: tuple[str, str], api: Api, status: Status) -> None:
        self._apis[key] = api
        self.status[api.name] = status
        self._reported.pop(api.name, None)

    async def _fail(self, key: tuple[str, str], service: Obj, reason: str, message: str) -> None:
        kept = " (keeping the last good version)" if key in self._apis else ""
        await self._report(_api_name(*key), service, key[0], reason, message + kept)

    async def _report(self, name: str, obj: Obj, ns: str, reason: str, message: str) -> None:
        self.status[name] = Status(False, f"{reason}: {message}")
        log.warning("discovery %s: %s: %s", name, reason, message)
        if self.events is None or self._reported.get(name) == message:
            return
        self._reported[name] = message
        try:
            await self.events(ns, obj, reason, message)
        except Exception as exc:  # noqa: BLE001 - events are best effort
            log.warning("could not record event for %s: %s", name, exc)

    def _publish(self) -> None:
        state = (
            tuple(self.current()),
            tuple(self.policies().items()),
            tuple(self.products().items()),
        )
        if state == self._published:
            return
        self._published = state
        for callback in list(self._subscribers):
            try:
                callback()
            except Exception:  # noqa: BLE001
                log.exception("discovery subscriber failed")


def _ann(obj: Obj | None, key: str) -> str | None:
    value = (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(PREFIX + key)
    return None if value is None else str(value).strip()


def _no_remote(url: str) -> tuple[bytes, str]:
    raise ValueError(f"remote reference {url} not fetched")

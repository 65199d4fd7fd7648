"""The Kubernetes API through lightkube: auth (kubeconfig or in-cluster service
account), request building and the HTTP client are lightkube's; list and watch
results are kept as plain JSON dicts so the reflector sees exactly what the API
server sent (resourceVersion, BOOKMARK and ERROR events included).

`KubeApi.list` returns (items, resourceVersion). `KubeApi.watch` yields
(type, object) pairs from one watch stream; an ERROR event or an HTTP 410 raises
`Gone`, any transport or HTTP failure raises `ApiUnavailable`, and a stream that
stays silent longer than `read_timeout` raises `ApiUnavailable` too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
from lightkube import AsyncClient, KubeConfig
from lightkube.config.kubeconfig import SERVICE_ACCOUNT
from lightkube.core.generic_client import GenericAsyncClient
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Node, Service
from lightkube.resources.discovery_v1 import EndpointSlice

Obj = dict[str, Any]
RESOURCES: dict[str, Any] = {
    "services": Service,
    "endpointslices": EndpointSlice,
    "nodes": Node,
    "configmaps": ConfigMap,
}
NAMESPACED = {"services", "endpointslices", "configmaps"}


class ApiUnavailable(Exception):
    """The API server could not be reached or answered with an error."""


class Gone(ApiUnavailable):
    """410 Gone: the resourceVersion is too old; relist."""


def load_config(
    kubeconfig: str | None = None,
    context: str | None = None,
    service_account: str | Path = SERVICE_ACCOUNT,
) -> KubeConfig:
    """In-cluster service-account config when KUBERNETES_SERVICE_HOST is set and no
    kubeconfig is named, else the kubeconfig file ($KUBECONFIG, ~/.kube/config)."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return KubeConfig.from_service_account(service_account)
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    config = KubeConfig.from_file(path)
    if context:
        config.current_context = context
    return config


def make_client(config: KubeConfig, timeout: float = 10.0) -> AsyncClient:
    return AsyncClient(config, timeout=httpx.Timeout(timeout), trust_env=False)


def _status_error(status: int, body: bytes) -> ApiUnavailable:
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        message = body[:200].decode("utf-8", "replace")
    cls = Gone if status == 410 else ApiUnavailable
    return cls(f"HTTP {status}: {message}".rstrip(": "))


class KubeApi:
    """List, watch and post Events with one lightkube AsyncClient."""

    def __init__(self, client: AsyncClient, timeout: float = 10.0) -> None:
        self.client = client
        self.timeout = timeout
        # lightkube builds URLs and auth headers; its watch() has no bookmark or
        # read-timeout control, so the stream is read here.
        self._generic: GenericAsyncClient = client._client

    def _request(
        self, kind: str, namespace: str | None, params: dict[str, str], read: float | None
    ) -> httpx.Request:
        res = RESOURCES[kind]
        ns = (namespace or "*") if kind in NAMESPACED else None
        br = self._generic.prepare_request("list", res=res, namespace=ns, params=params)
        br.timeout = httpx.Timeout(self.timeout, read=read)
        return self._generic.build_adapter_request(br)

    async def list(self, kind: str, namespace: str | None = None) -> tuple[list[Obj], str]:
        try:
            response = await self._generic.send(self._request(kind, namespace, {}, self.timeout))
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"list {kind}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise _status_error(response.status_code, response.content)
        try:
            body = response.json()
            return list(body.get("items") or []), str(body["metadata"]["resourceVersion"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiUnavailable(f"list {kind}: malformed response: {exc}") from None

    async def watch(
        self, kind: str, namespace: str | None, resource_version: str, read_timeout: float
    ) -> AsyncIterator[tuple[str, Obj]]:
        params = {"watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        request = self._request(kind, namespace, params, read_timeout)
        try:
            response = await self._generic.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"watch {kind}: {type(exc).__name__}: {exc}") from None
        try:
            if response.status_code != 200:
                raise _status_error(response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                    kind_, obj = str(event["type"]), event["object"]
                except (ValueError, KeyError, TypeError):
                    raise ApiUnavailable(f"watch {kind}: malformed event {line[:100]!r}") from None
                if kind_ == "ERROR":
                    code = obj.get("code") if isinstance(obj, dict) else None
                    msg = obj.get("message", "") if isinstance(obj, dict) else ""
                    raise (Gone if code == 410 else ApiUnavailable)(f"watch {kind}: {code} {msg}")
                yield kind_, obj
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"watch {kind}: {type(exc).__name__}: {exc}") from None
        finally:
            await response.aclose()

    async def post_event(
        self, namespace: str, involved: Obj, reason: str, message: str, type_: str = "Warning"
    ) -> None:
        """Record a Kubernetes Event about `involved` (a Service or ConfigMap dict)."""
        meta = involved.get("metadata", {})
        now = dt.datetime.now(dt.UTC)
        event = Event(
            metadata=ObjectMeta(
                generateName=f"{meta.get('name', 'kubegate')}.", namespace=namespace
            ),
            involvedObject=ObjectReference(
                apiVersion=involved.get("apiVersion", "v1"),
                kind=involved.get("kind", "Service"),
                name=meta.get("name"),
                namespace=namespace,
                uid=meta.get("uid"),
                resourceVersion=meta.get("resourceVersion"),
            ),
            reason=reason,
            message=message[:1024],
            type=type_,
            source=EventSource(component="kubegate"),
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
        )
        try:
            await self.client.create(event)
        except (httpx.HTTPError, Exception) as exc:  # noqa: BLE001 - events are best effort
            raise ApiUnavailable(f"post event: {exc}") from None

    async def close(self) -> None:
        await self.client.close()

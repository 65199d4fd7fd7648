"""A small in-test Kubernetes API server: list/watch for services, endpointslices,
nodes and configmaps, Events POSTs, bookmarks, 410 Gone (HTTP and ERROR event),
dropped and silent streams, going down and coming back on the same port.

State: `store[kind][key]` holds the objects; every change gets the next global
resourceVersion and is appended to `history` (what a watch from an older
version replays). `compact()` forgets history: watching from an older version
then answers 410.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]
KINDS = {
    ("api", "v1", "services"): ("services", "ServiceList", True),
    ("api", "v1", "configmaps"): ("configmaps", "ConfigMapList", True),
    ("api", "v1", "nodes"): ("nodes", "NodeList", False),
    ("api", "v1", "events"): ("events", "EventList", True),
    ("apis", "discovery.k8s.io/v1", "endpointslices"): (
        "endpointslices",
        "EndpointSliceList",
        True,
    ),
}
API_VERSION = {"endpointslices": "discovery.k8s.io/v1"}
KIND = {
    "services": "Service",
    "configmaps": "ConfigMap",
    "nodes": "Node",
    "endpointslices": "EndpointSlice",
}


@dataclass
class Watch:
    kind: str
    namespace: str | None
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


def key_of(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class FakeApiServer:
    def __init__(self, token: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.token, self.ssl_context = token, ssl_context
        self.store: dict[str, dict[str, Obj]] = {k[0]: {} for k in KINDS.values()}
        self.rv = 100
        self.history: list[tuple[int, str, str, Obj]] = []
        self.compacted = 0
        self.gone_as_event = False  # True: 410 as an ERROR event on the stream, else HTTP 410
        self.silent = False  # hold events back (a stream that goes quiet)
        self.watches: list[Watch] = []
        self.requests: list[tuple[str, str]] = []
        self.events: list[Obj] = []
        self.list_failures = 0  # answer the next N lists with 500
        self.gone_served = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> FakeApiServer:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
        self.drop_streams()
        if self._server:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
        self._server = None

    def drop_streams(self) -> None:
        """Abort every open connection (watch streams break mid-way)."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self.watches.clear()

    # -- state changes ---------------------------------------------------------------
    def put(self, kind: str, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", API_VERSION.get(kind, "v1"))
        obj.setdefault("kind", KIND.get(kind, "Event"))
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        obj["metadata"].setdefault("uid", f"uid-{kind}-{key_of(obj)}")
        type_ = "MODIFIED" if key_of(obj) in self.store[kind] else "ADDED"
        self.store[kind][key_of(obj)] = obj
        self._record(kind, type_, obj)
        return obj

    def delete(self, kind: str, namespace: str, name: str) -> None:
        obj = self.store[kind].pop(f"{namespace}/{name}")
        self.rv += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        self._record(kind, "DELETED", obj)

    def put_quietly(self, kind: str, obj: Obj) -> None:
        """Change state without any watch event (as if the event was lost)."""
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", API_VERSION.get(kind, "v1"))
        obj.setdefault("kind", KIND.get(kind, "Event"))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.store[kind][key_of(obj)] = obj

    def delete_quietly(self, kind: str, namespace: str, name: str) -> None:
        self.rv += 1
        self.store[kind].pop(f"{namespace}/{name}")

    def compact(self) -> None:
        self.compacted = self.rv
        self.history.clear()

    def bookmark(self) -> None:
        self.rv += 1
        for w in self.watches:
            obj = {
                "kind": KIND.get(w.kind),
                "apiVersion": API_VERSION.get(w.kind, "v1"),
                "metadata": {"resourceVersion": str(self.rv)},
            }
            w.queue.put_nowait(_line("BOOKMARK", obj))

    def send_gone(self) -> None:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 410,
            "reason": "Expired",
            "message": "too old resource version",
        }
        for w in self.watches:
            w.queue.put_nowait(_line("ERROR", status))
            w.queue.put_nowait(None)

    def _record(self, kind: str, type_: str, obj: Obj) -> None:
        self.history.append((self.rv, kind, type_, obj))
        if self.silent:
            return
        for w in self.watches:
            if w.kind == kind and w.namespace in (None, obj["metadata"].get("namespace")):
                w.queue.put_nowait(_line(type_, obj))

    # -- HTTP -------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                self.requests.append((method, target))
                if (
                    self.token is not None
                    and headers.get("authorization") != f"Bearer {self.token}"
                ):
                    await _send(writer, 401, _status(401, "Unauthorized"))
                    continue
                await self._route(method, target, body, writer)
        except (
            asyncio.CancelledError,
            asyncio.IncompleteReadError,
            ConnectionError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _route(
        self, method: str, target: str, body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        namespace = None
        if "namespaces" in parts:
            i = parts.index("namespaces")
            namespace = parts[i + 1]
            parts = parts[:i] + parts[i + 2 :]
        prefix, resource = parts[0], parts[-1]
        version = "/".join(parts[1:-1])
        found = KINDS.get((prefix, version, resource))
        if found is None:
            await _send(writer, 404, _status(404, f"no route {url.path}"))
            return
        kind, list_kind, _ = found
        if method == "POST" and kind == "events":
            obj = json.loads(body)
            self.events.append(obj)
            obj.setdefault("metadata", {})["name"] = f"event-{len(self.events)}"
            await _send(writer, 201, obj)
        elif query.get("watch") in ("1", "true"):
            await self._watch(kind, namespace, int(query.get("resourceVersion") or self.rv), writer)
        elif self.list_failures > 0:
            self.list_failures -= 1
            await _send(writer, 500, _status(500, "etcd is sad"))
        else:
            items = [
                o
                for o in self.store[kind].values()
                if namespace is None or o["metadata"].get("namespace") == namespace
            ]
            await _send(
                writer,
                200,
                {
                    "kind": list_kind,
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(self.rv)},
                    "items": items,
                },
            )

    async def _watch(
        self, kind: str, namespace: str | None, since: int, writer: asyncio.StreamWriter
    ) -> None:
        if since < self.compacted:
            self.gone_served += 1
        if since < self.compacted and not self.gone_as_event:
            await _send(writer, 410, _status(410, "too old resource version"))
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        w = Watch(kind, namespace)
        if since < self.compacted:
            w.queue.put_nowait(_line("ERROR", _status(410, "too old resource version")))
            w.queue.put_nowait(None)
        else:
            for rv, k, type_, obj in self.history:
                if (
                    rv > since
                    and k == kind
                    and namespace in (None, obj["metadata"].get("namespace"))
                ):
                    w.queue.put_nowait(_line(type_, obj))
        self.watches.append(w)
        try:
            while (line := await w.queue.get()) is not None:
                writer.write(b"%x\r\n%s\r\n" % (len(line), line))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            if w in self.watches:
                self.watches.remove(w)

    def end_streams(self) -> None:
        """Close every watch cleanly (as the server's watch timeout does)."""
        for w in self.watches:
            w.queue.put_nowait(None)


def _line(type_: str, obj: Obj) -> bytes:
    return json.dumps({"type": type_, "object": obj}).encode() + b"\n"


def _status(code: int, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "message": message,
    }


async def _send(writer: asyncio.StreamWriter, code: int, body: Obj) -> None:
    data = json.dumps(body).encode()
    writer.write(
        b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (code, len(data), data)
    )
    await writer.drain()


# -- object builders -------------------------------------------------------------------
def service(
    ns: str,
    name: str,
    ports: list[Obj] | None = None,
    *,
    annotations: dict[str, str] | None = None,
    type_: str = "ClusterIP",
) -> Obj:
    ports = ports or [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    meta: Obj = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"type": type_, "ports": ports}}


def endpoint_slice(
    ns: str,
    svc: str,
    endpoints: list[tuple[str, bool, bool]],
    port: int,
    *,
    port_name: str = "http",
    name: str | None = None,
) -> Obj:
    """endpoints: (address, ready, terminating)."""
    return {
        "metadata": {
            "name": name or f"{svc}-abc",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [a], "conditions": {"ready": r, "serving": r or t, "terminating": t}}
            for a, r, t in endpoints
        ],
    }


def node(name: str, ip: str, ready: bool = True) -> Obj:
    return {
        "metadata": {"name": name},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def configmap(ns: str, name: str, data: dict[str, str]) -> Obj:
    return {"metadata": {"name": name, "namespace": ns}, "data": data}

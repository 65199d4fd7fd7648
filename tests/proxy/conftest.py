"""Drive the protocol without sockets: fake transports on both sides."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from kubegate.compile.snapshot import build_snapshot
from kubegate.model.config import Config
from kubegate.proxy.client import ClientConnection
from kubegate.proxy.server import ServerState
from kubegate.proxy.upstream import UpstreamConnection


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: tuple[str, int] = ("192.0.2.7", 40000)) -> None:
        super().__init__()
        self.data = bytearray()
        self.closed = False
        self.aborted = False
        self.paused = False
        self.peer = peer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.data += data

    def take(self) -> bytes:
        out = bytes(self.data)
        self.data.clear()
        return out

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default


CONFIG = {
    "gateway": {"limits": {"max_body_size": 1000, "max_headers": 20, "max_header_size": 2000}},
    "apis": [
        {
            "name": "orders",
            "path": "/api",
            "backend": "http://10.9.9.9:9000/base",
            "operations": [
                {"method": "GET", "path": "/items/{id}"},
                {"method": "POST", "path": "/items"},
                {"method": "GET", "path": "/chat"},
            ],
        }
    ],
}


@dataclass
class Rig:
    state: ServerState
    client: ClientConnection
    ct: FakeTransport
    upstreams: list[tuple[UpstreamConnection, FakeTransport]]

    def send(self, data: bytes, piecewise: bool = False) -> None:
        if piecewise:
            for i in range(len(data)):
                self.client.data_received(data[i : i + 1])
        else:
            self.client.data_received(data)

    def reply(self, data: bytes, index: int = 0, piecewise: bool = False) -> None:
        up = self.upstreams[index][0]
        if piecewise:
            for i in range(len(data)):
                up.data_received(data[i : i + 1])
        else:
            up.data_received(data)

    def upstream_sent(self, index: int = 0) -> bytes:
        return self.upstreams[index][1].take()

    @property
    def pool(self) -> Any:
        return self.state.pools.get(self.state.snapshot.router.lookup("GET", ["api", "items", "1"]).target.backend)  # type: ignore[union-attr]


def make_rig(upstreams: int = 2, config: dict[str, Any] | None = None) -> Rig:
    snapshot = build_snapshot(Config.model_validate(config or CONFIG))
    state = ServerState(snapshot, snapshot.config.gateway)
    backend = snapshot.backends[0]
    pool = state.pools.get(backend)
    ups = []
    for _ in range(upstreams):
        up = UpstreamConnection(pool)
        t = FakeTransport(("10.9.9.9", 9000))
        up.connection_made(t)
        pool.idle.append(up)
        ups.append((up, t))
    ups.reverse()  # the pool hands out its last idle connection first
    client = ClientConnection(state)
    ct = FakeTransport()
    client.connection_made(ct)
    return Rig(state, client, ct, ups)


@pytest.fixture
def rig() -> Rig:
    return make_rig()

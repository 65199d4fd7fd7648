"""Shared helpers: token minting with real keys, and a local OpenID provider on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

Mint = Callable[..., str]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(key: Key | None, alg: str, payload: dict[str, Any] | str, header: dict[str, Any] | None = None,
         *, raw_header: str | None = None) -> str:
    """Sign with joserfc's algorithm objects; raw JSON strings allow duplicate members."""
    hdr = raw_header if raw_header is not None else json.dumps({"alg": alg, **(header or {})})
    body = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = f"{b64(hdr.encode())}.{b64(body.encode())}"
    sig = b"" if key is None else JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(sig)}"


@pytest.fixture
def mint_token() -> Mint:
    return mint


class LocalProvider:
    """A tiny OpenID provider: discovery + JWKS over HTTP/1.1, with rotation and outages."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.issuer = "https://issuer.test/"
        self.fail = False
        self.requests: list[str] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    @property
    def discovery_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/openid-configuration"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1].decode()
        self.requests.append(path)
        if self.fail:
            status, body = "500 Internal Server Error", b"down"
        elif path == "/.well-known/openid-configuration":
            status, body = "200 OK", json.dumps(
                {"issuer": self.issuer, "jwks_uri": f"http://127.0.0.1:{self.port}/keys"}).encode()
        elif path == "/keys":
            status, body = "200 OK", json.dumps(self.jwks).encode()
        else:
            status, body = "404 Not Found", b""
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def provider() -> AsyncIterator[LocalProvider]:
    p = LocalProvider()
    await p.start()
    try:
        yield p
    finally:
        await p.stop()

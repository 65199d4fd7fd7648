"""Real small HTTP servers standing in for pods and nodes on 127.0.0.x."""

from __future__ import annotations

import asyncio
import json


class Pod:
    """Answers every request with its own address; serves `spec` at the swagger path."""

    def __init__(
        self, host: str, spec: dict | None = None, spec_path: str = "/swagger/v1/swagger.json"
    ) -> None:
        self.host, self.spec, self.spec_path = host, spec, spec_path
        self.port = 0
        self.hits = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> Pod:
        self.server = await asyncio.start_server(self._handle, self.host, port or self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.hits += 1
                if path == self.spec_path and self.spec is not None:
                    code, body = 200, json.dumps(self.spec).encode()
                elif path == self.spec_path:
                    code, body = 500, b"no spec"
                else:
                    code, body = 200, self.host.encode()
                close = b"connection: close" in head.lower()
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (code, len(body), body)
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.CancelledError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def get(host: str, port: int, path: str = "/") -> str:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = await reader.read()
        return data.split(b"\r\n\r\n", 1)[1].decode()
    finally:
        writer.close()


def swagger(title: str, paths: list[str]) -> dict:
    return {
        "swagger": "2.0",
        "info": {"title": title, "version": "1"},
        "paths": {
            p: {
                "get": {
                    "operationId": f"get{p.replace('/', '_')}",
                    "responses": {"200": {"description": "ok"}},
                }
            }
            for p in paths
        },
    }

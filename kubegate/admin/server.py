"""Run the admin app on uvicorn inside an existing event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator

import uvicorn
from starlette.applications import Starlette

from kubegate.model.config import parse_host_port


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the gateway process owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def start_admin(app: Starlette, address: str) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    host, port = parse_host_port(address, "127.0.0.1")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            access_log=False)
    server = _EmbeddedServer(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        try:
            task.result()
        except SystemExit:  # uvicorn exits when it cannot bind
            pass
        raise OSError(f"admin server cannot listen on {address}")
    return server, task

"""The admin app (Starlette on uvicorn, on its own port, off the data path).

Issue #2 part: liveness, readiness and status. The management API proper grows here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class AdminState:
    """What the admin app reports; filled by whoever runs the data plane."""

    def __init__(self, status: Callable[[], dict[str, Any]], ready: Callable[[], bool]) -> None:
        self.status = status
        self.ready = ready


def create_app(state: AdminState) -> Starlette:
    async def live(_: Request) -> JSONResponse:
        return JSONResponse({"status": "live"})

    async def ready(_: Request) -> JSONResponse:
        ok = state.ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    async def status(_: Request) -> JSONResponse:
        return JSONResponse(state.status())

    return Starlette(routes=[
        Route("/health/live", live),
        Route("/health/ready", ready),
        Route("/status", status),
    ])

"""The admin app (FastAPI on uvicorn, on its own port, off the data path).

Routes: /health/live, /health/ready, /status and /metrics always; with an
AdminContext (a store) also the management API under /admin/api (its OpenAPI
document at /admin/api/openapi.json), the developer portal under /portal and
the operators' console under /console. See docs/admin.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from kubegate.admin import api_config, api_policies, api_store, console, portal
from kubegate.admin.changes import DeclaredEntry, effective
from kubegate.admin.context import AdminContext
from kubegate.admin.deps import Actor, Ctx
from kubegate.admin.overlay import read_overlay, shadowed
from kubegate.model.errors import ConfigError
from kubegate.observability import CONTENT_TYPE, RequestMetrics, render
from kubegate.store import Conflict, NotFound, StoreError, StoreUnavailable


class AdminState:
    """What the admin app reports; filled by whoever runs the data plane."""

    def __init__(self, status: Callable[[], dict[str, Any]], ready: Callable[[], bool],
                 context: AdminContext | None = None,
                 metrics: Callable[[], RequestMetrics] | None = None) -> None:
        self.status = status
        self.ready = ready
        self.context = context
        self.metrics = metrics or (context.metrics if context else RequestMetrics)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status)


def _handlers(app: FastAPI) -> None:
    async def config_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ConfigError)
        return _error(422, "the change was rejected; nothing was applied",
                      problems=[p.as_dict() for p in exc.problems])

    table: list[tuple[type[Exception], int]] = [
        (NotFound, 404), (KeyError, 404), (Conflict, 409), (DeclaredEntry, 409),
        (StoreUnavailable, 503), (StoreError, 400)]
    for cls, status in table:
        async def handler(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            text = f"not found: {exc.args[0]}" if isinstance(exc, KeyError) else str(exc)
            return _error(status, text)
        app.add_exception_handler(cls, handler)
    app.add_exception_handler(ConfigError, config_error)


async def full_status(state: AdminState) -> dict[str, Any]:
    out = dict(state.status())
    ctx = state.context
    if ctx is None:
        return out
    try:
        version = await asyncio.to_thread(ctx.store.version)
        overlay, revision = await asyncio.to_thread(read_overlay, ctx.store)
        out["store"] = {"ok": True, "url": repr(ctx.store), "version": version}
        config = await asyncio.to_thread(effective, ctx, overlay)
        out["overlay"] = {"revision": revision,
                          "shadowed": shadowed(ctx.declared(), overlay)}
        pools = out.get("pools", {})
        out["backends"] = [{"api": a.name, "backend": a.backend,
                            "pool": next((v for k, v in pools.items()
                                          if a.backend and a.backend.startswith(k)), None)}
                           for a in config.apis]
    except StoreError as exc:
        out["store"] = {"ok": False, "error": str(exc)}
    for name, check in ctx.checks.items():
        try:
            ok, detail = await check()
        except Exception as exc:  # a failing check is reported, not raised
            ok, detail = False, str(exc)
        out[name] = {"ok": ok, "detail": detail}
    return out


def create_app(state: AdminState) -> FastAPI:
    ctx = state.context
    app = FastAPI(title="kubegate admin API", version="1", openapi_url="/admin/api/openapi.json",
                  docs_url=None, redoc_url=None)
    app.state.admin = ctx

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        ok = state.ready()
        return JSONResponse({"status": "ready" if ok else "not ready"},
                            status_code=200 if ok else 503)

    @app.get("/status", include_in_schema=False)
    async def status() -> dict[str, Any]:
        return await full_status(state)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(render(state.metrics), media_type=CONTENT_TYPE)

    if ctx is None:
        return app
    _handlers(app)
    root = APIRouter(prefix="/admin/api")

    @root.get("/status", tags=["gateway"])
    async def api_status(_: Actor) -> dict[str, Any]:
        return await full_status(state)

    @root.post("/reload", tags=["gateway"])
    async def reload(c: Ctx, _: Actor) -> dict[str, Any]:
        return await c.reload()

    for r in (api_config.router, api_policies.router, api_store.router):
        root.include_router(r)
    app.include_router(root)
    portal.mount(app, ctx)
    console.mount(app, ctx, state)
    app.add_middleware(SessionMiddleware, secret_key=ctx.session_secret,
                       session_cookie="kubegate_session", same_site="lax",
                       https_only=ctx.session_https_only, max_age=8 * 3600)
    return app

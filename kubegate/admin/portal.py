"""Developer portal under /portal: catalog, Swagger UI, sign up/in, subscribe, keys, usage.

Sessions are signed cookies (Starlette's SessionMiddleware, itsdangerous) holding
the user id. Passwords are checked by the store (argon2). "Try it" requests go
to /portal/try/<api path>/..., which relays them to the gateway (so the browser
needs no CORS from the gateway); only signed-in users may use the relay.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from kubegate.admin.changes import effective
from kubegate.admin.context import AdminContext
from kubegate.admin.overlay import load_spec_document
from kubegate.admin.pages import flash, page
from kubegate.model.config import Api
from kubegate.observability import traffic_summary
from kubegate.sources.openapi import client_spec
from kubegate.store import Conflict, NotFound, User

HOP = {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "cookie",
       "content-length", "proxy-authorization", "trailer"}


def _user(request: Request, ctx: AdminContext) -> User | None:
    uid = request.session.get("uid")
    if not uid:
        return None
    try:
        return ctx.store.users.get(uid)
    except NotFound:
        request.session.clear()
        return None


def _find(ctx: AdminContext, name: str) -> Api:
    for api in effective(ctx).apis:
        if api.name == name:
            return api
    raise KeyError(name)


def minimal_spec(api: Api) -> dict[str, Any]:
    """An OpenAPI 3 document listing the operations of an API that has no stored spec."""
    paths: dict[str, Any] = {}
    for op in api.operations or ():
        methods = ["get", "post", "put", "delete"] if op.method == "*" else [op.method.lower()]
        for m in methods:
            params = [{"name": seg[1:-1], "in": "path", "required": True,
                       "schema": {"type": "string"}}
                      for seg in op.path.split("/") if seg.startswith("{")]
            paths.setdefault(op.path, {})[m] = {
                "summary": op.display_name or op.id or f"{op.method} {op.path}",
                "parameters": params, "responses": {"default": {"description": "response"}}}
    return {"openapi": "3.0.3", "info": {"title": api.name, "version": "1"}, "paths": paths}


def mount(app: FastAPI, ctx: AdminContext) -> None:
    app.mount("/portal/assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    def render(request: Request, template: str, **values: Any) -> Response:
        return page(request, template, area="developer portal",
                    user=_user(request, ctx), **values)

    @app.get("/portal", include_in_schema=False)
    def index(request: Request) -> Response:
        return render(request, "portal_index.html", title="APIs", apis=effective(ctx).apis,
                      products=ctx.store.products.list())

    @app.get("/portal/apis/{name}", include_in_schema=False)
    def api_page(request: Request, name: str) -> Response:
        return render(request, "portal_api.html", title=name, api=_find(ctx, name),
                      spec_url=f"/portal/apis/{name}/openapi.json")

    @app.get("/portal/apis/{name}/openapi.json", include_in_schema=False)
    def api_spec(request: Request, name: str) -> JSONResponse:
        api = _find(ctx, name)
        doc = load_spec_document(ctx.store, name) or minimal_spec(api)
        base = str(request.base_url).rstrip("/") + "/portal/try"
        return JSONResponse(client_spec(doc, base, api.path or "/"))

    @app.get("/portal/signup", include_in_schema=False)
    def signup_form(request: Request) -> Response:
        return render(request, "portal_form.html", title="Sign up", action="/portal/signup")

    @app.post("/portal/signup", include_in_schema=False)
    def signup(request: Request, email: str = Form(), password: str = Form()) -> Response:
        if len(password) < 8:
            flash(request, "the password needs at least 8 characters", True)
            return RedirectResponse("/portal/signup", 303)
        try:
            user = ctx.store.users.create(email, password=password, actor=f"portal:{email}")
        except Conflict as exc:
            flash(request, str(exc), True)
            return RedirectResponse("/portal/signup", 303)
        request.session["uid"] = user.id
        flash(request, f"welcome, {user.email}")
        return RedirectResponse("/portal", 303)

    @app.get("/portal/signin", include_in_schema=False)
    def signin_form(request: Request) -> Response:
        return render(request, "portal_form.html", title="Sign in", action="/portal/signin")

    @app.post("/portal/signin", include_in_schema=False)
    def signin(request: Request, email: str = Form(), password: str = Form()) -> Response:
        user = ctx.store.users.check_password(email, password)
        if user is None:
            flash(request, "wrong email or password", True)
            return RedirectResponse("/portal/signin", 303)
        request.session["uid"] = user.id
        return RedirectResponse("/portal", 303)

    @app.post("/portal/signout", include_in_schema=False)
    def signout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/portal", 303)

    def signed_in(request: Request) -> User:
        user = _user(request, ctx)
        if user is None:
            raise PermissionError
        return user

    @app.exception_handler(PermissionError)
    async def need_signin(request: Request, _: Exception) -> Response:
        return RedirectResponse("/portal/signin", 303)

    @app.post("/portal/subscribe", include_in_schema=False)
    def subscribe(request: Request, product: str = Form(), name: str = Form()) -> Response:
        user = signed_in(request)
        p = ctx.store.products.get(product)
        keys = ctx.store.subscriptions.create(name[:300] or p.name, f"product:{p.name}",
                                              owner_id=user.id, actor=f"portal:{user.email}")
        return render(request, "portal_keys.html", title="Keys", sub=keys.subscription,
                      primary=keys.primary_key, secondary=keys.secondary_key)

    @app.get("/portal/account", include_in_schema=False)
    def account(request: Request) -> Response:
        user = signed_in(request)
        subs = ctx.store.subscriptions.list(owner_id=user.id)
        usage = traffic_summary(ctx.metrics())["subscriptions"]
        return render(request, "portal_account.html", title="My subscriptions", subs=subs,
                      usage={s.id: usage.get(s.id, {}) for s in subs})

    @app.post("/portal/subscriptions/{sid}/regenerate/{which}", include_in_schema=False)
    def regenerate(request: Request, sid: str, which: str) -> Response:
        user = signed_in(request)
        sub = ctx.store.subscriptions.get(sid)
        if sub.owner_id != user.id or which not in ("primary", "secondary"):
            raise KeyError(sid)
        keys = ctx.store.subscriptions.regenerate_key(sid, which,  # type: ignore[arg-type]
                                                      actor=f"portal:{user.email}")
        return render(request, "portal_keys.html", title="Keys", sub=keys.subscription,
                      primary=keys.primary_key, secondary=keys.secondary_key)

    @app.api_route("/portal/try/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE",
                                                       "HEAD", "OPTIONS"],
                   include_in_schema=False)
    async def relay(request: Request, path: str) -> Response:
        if not request.session.get("uid"):
            return JSONResponse({"detail": "sign in to use try it"}, status_code=401)
        if not ctx.gateway_url:
            return JSONResponse({"detail": "no gateway URL configured"}, status_code=503)
        url = ctx.gateway_url.rstrip("/") + "/" + path
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        try:
            async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
                upstream = await client.request(request.method, url, params=request.query_params,
                                                headers=headers, content=await request.body())
        except httpx.HTTPError as exc:
            return JSONResponse({"detail": f"gateway unreachable: {exc}"}, status_code=502)
        out = {k: v for k, v in upstream.headers.items()
               if k.lower() not in HOP | {"content-encoding"}}
        return Response(upstream.content, upstream.status_code, headers=out)


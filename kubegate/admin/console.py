"""Operators' console under /console: APIs, products, subscriptions (approve), live
traffic per API and per subscription, policy documents with compile errors in place.

Sign-in takes the admin token (compared in constant time); the session cookie
then carries `console: true`. Every change made here is audited as
`console:admin-token`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from kubegate.admin.api_policies import _put_api_policy
from kubegate.admin.changes import apply, check_policy, effective, refuse_declared
from kubegate.admin.context import AdminContext
from kubegate.admin.overlay import Overlay
from kubegate.admin.pages import flash, page
from kubegate.model.errors import ConfigError, Problem
from kubegate.observability import traffic_summary

if TYPE_CHECKING:
    from kubegate.admin.app import AdminState

ACTOR = "console:admin-token"


class NeedLogin(Exception):
    pass


def _text(ctx: AdminContext, ref: str) -> str:
    if ref.lstrip().startswith("<"):
        return ref
    try:
        return (ctx.base_dir / ref).read_text(encoding="utf-8-sig")
    except OSError as exc:
        return f"(cannot read {ref}: {exc.strerror})"


def policy_docs(ctx: AdminContext) -> list[dict[str, Any]]:
    """Every policy document of the effective config, with its compile problems."""
    config, declared = effective(ctx), ctx.declared()
    found: list[tuple[str, str, str | None, bool, str, str]] = []
    if config.policy:
        found.append(("global", "global", config.policy, declared.policy is not None, "*", "*"))
    dapis = {a.name for a in declared.apis}
    for a in config.apis:
        if a.policy:
            found.append((f"API {a.name}", f"api:{a.name}", a.policy, a.name in dapis, a.name, "*"))
        for op in a.operations or ():
            if op.policy:
                found.append((f"operation {a.name}/{op.id}", f"api:{a.name}/{op.id}", op.policy,
                              a.name in dapis, a.name, op.id or "*"))
    dprods = {p.name for p in declared.products}
    for p in config.products:
        if p.policy:
            found.append((f"product {p.name}", f"product:{p.name}", p.policy, p.name in dprods,
                          "*", "*"))
    docs = []
    for scope, target, ref, is_declared, api_id, op_id in found:
        text = _text(ctx, ref or "")
        try:
            check_policy(ctx, text, target, api_id, op_id)
            problems: list[Problem] = []
        except ConfigError as exc:
            problems = exc.problems
        docs.append(doc_view(scope, target, text, is_declared, problems))
    return docs


def doc_view(scope: str, target: str, text: str, declared: bool,
             problems: list[Problem]) -> dict[str, Any]:
    return {"scope": scope, "target": target, "text": text, "declared": declared,
            "lines": text.splitlines(), "problems": problems,
            "bad_lines": {p.line for p in problems if p.line}}


def save_policy(ctx: AdminContext, target: str, text: str) -> None:
    kind, _, name = target.strip().partition(":")
    if kind == "global":
        refuse_declared(ctx, "global policy", "policy", ctx.declared().policy is not None)
        check_policy(ctx, text, "policies/global")
        apply(ctx, ACTOR, "policy.put", "policy:global",
              lambda ov: ov.model_copy(update={"policy": text}))
    elif kind == "api" and name:
        api, _, op = name.partition("/")
        _put_api_policy(ctx, ACTOR, api, op or None, text)
    elif kind == "product" and name:
        check_policy(ctx, text, f"products/{name}/policy")
        ctx.store.products.get(name)

        def put(ov: Overlay) -> Overlay:
            return ov.model_copy(update={"product_policies": {**ov.product_policies,
                                                              name: text}})
        apply(ctx, ACTOR, "policy.put", f"policy:product:{name}", put)
    else:
        raise ConfigError.one("target: global, api:NAME, api:NAME/OPERATION or product:NAME",
                              field="target")


def mount(app: FastAPI, ctx: AdminContext, state: AdminState) -> None:
    def render(request: Request, template: str, status: int = 200, **values: Any) -> Response:
        return page(request, template, status, area="console", **values)

    def need(request: Request) -> None:
        if not request.session.get("console"):
            raise NeedLogin

    @app.exception_handler(NeedLogin)
    async def login_first(request: Request, _: Exception) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"detail": "sign in to the console"}, status_code=401)
        return RedirectResponse("/console/login", 303)

    @app.get("/console/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        return render(request, "console_login.html", title="Sign in")

    @app.post("/console/login", include_in_schema=False)
    def login(request: Request, token: str = Form()) -> Response:
        if not ctx.auth.check_token(token):
            flash(request, "wrong admin token", True)
            return RedirectResponse("/console/login", 303)
        request.session["console"] = True
        return RedirectResponse("/console", 303)

    @app.post("/console/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/console/login", 303)

    @app.get("/console", include_in_schema=False)
    def index(request: Request) -> Response:
        need(request)
        return render(request, "console_index.html", title="Overview",
                      traffic=traffic_summary(state.metrics()), apis=effective(ctx).apis,
                      declared={a.name for a in ctx.declared().apis},
                      products=ctx.store.products.list(), subs=ctx.store.subscriptions.list())

    @app.get("/console/traffic.json", include_in_schema=False)
    def traffic(request: Request) -> dict[str, Any]:
        need(request)
        return traffic_summary(state.metrics())

    @app.post("/console/subscriptions/{sid}/{action}", include_in_schema=False)
    def subscription(request: Request, sid: str, action: str) -> Response:
        need(request)
        states = {"activate": "active", "suspend": "suspended"}
        if action not in states:
            raise KeyError(action)
        ctx.store.subscriptions.set_state(sid, states[action], actor=ACTOR)
        flash(request, f"subscription {sid} is {states[action]}")
        return RedirectResponse("/console", 303)

    @app.get("/console/policies", include_in_schema=False)
    def policies(request: Request) -> Response:
        need(request)
        return render(request, "console_policies.html", title="Policies", docs=policy_docs(ctx))

    @app.post("/console/policies", include_in_schema=False)
    def post_policy(request: Request, target: str = Form(), document: str = Form()) -> Response:
        need(request)
        try:
            save_policy(ctx, target, document)
        except ConfigError as exc:
            rejected = doc_view(f"rejected: {target}", target, document, False, exc.problems)
            return render(request, "console_policies.html", 422, title="Policies",
                          docs=[rejected, *policy_docs(ctx)],
                          message="the document was rejected; nothing was applied", error=True)
        flash(request, f"policy {target} saved")
        return RedirectResponse("/console/policies", 303)



"""Admin API: products, subscriptions, users, groups and the audit log (the store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from kubegate.admin.deps import Actor, Ctx
from kubegate.store import IssuedKeys
from kubegate.store.records import jsonable

router = APIRouter()
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


class ProductIn(BaseModel):
    name: str = Field(pattern=NAME)
    display_name: str | None = Field(None, max_length=300)
    description: str = Field("", max_length=10_000)
    subscription_required: bool = True
    approval_required: bool = False
    apis: list[str] = Field(default_factory=list, max_length=1000)


class ApisIn(BaseModel):
    apis: list[str] = Field(max_length=1000)


class SubscriptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    scope: str = Field(max_length=200, description="product:<name>, api:<name> or all")
    id: str | None = Field(None, pattern=NAME)
    owner_id: str | None = Field(None, max_length=100)
    state: Literal["submitted", "active", "suspended", "cancelled", "expired"] | None = None
    expires: datetime | None = None
    allow_tracing: bool = False


class UserIn(BaseModel):
    email: str = Field(max_length=320)
    password: str | None = Field(None, min_length=8, max_length=1000)
    first_name: str = Field("", max_length=100)
    last_name: str = Field("", max_length=100)


class StateIn(BaseModel):
    state: Literal["active", "blocked", "pending", "deleted"]


class GroupIn(BaseModel):
    name: str = Field(pattern=NAME)
    description: str = Field("", max_length=10_000)


def issued(keys: IssuedKeys) -> dict[str, Any]:
    out: dict[str, Any] = {"subscription": jsonable(keys.subscription)}
    if keys.primary_key:
        out["primary_key"] = keys.primary_key
    if keys.secondary_key:
        out["secondary_key"] = keys.secondary_key
    return out


@router.get("/products", tags=["products"])
def list_products(ctx: Ctx, _: Actor) -> list[Any]:
    return [jsonable(p) for p in ctx.store.products.list()]


@router.post("/products", tags=["products"], status_code=201)
def create_product(body: ProductIn, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return jsonable(ctx.store.products.create(**body.model_dump(), actor=actor))


@router.get("/products/{name}", tags=["products"])
def get_product(name: str, ctx: Ctx, _: Actor) -> dict[str, Any]:
    return jsonable(ctx.store.products.get(name))


@router.put("/products/{name}/apis", tags=["products"])
def set_product_apis(name: str, body: ApisIn, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return jsonable(ctx.store.products.set_apis(name, body.apis, actor=actor))


@router.delete("/products/{name}", tags=["products"])
def delete_product(name: str, ctx: Ctx, actor: Actor,
                   delete_subscriptions: bool = False) -> dict[str, int]:
    count = ctx.store.products.delete(name, delete_subscriptions=delete_subscriptions,
                                      actor=actor)
    return {"subscriptions_deleted": count}


@router.get("/subscriptions", tags=["subscriptions"])
def list_subscriptions(ctx: Ctx, _: Actor, scope: str | None = Query(None, max_length=200),
                       state: str | None = Query(None, max_length=20)) -> list[Any]:
    return [jsonable(s) for s in ctx.store.subscriptions.list(scope=scope, state=state)]


@router.post("/subscriptions", tags=["subscriptions"], status_code=201)
def create_subscription(body: SubscriptionIn, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Keys appear in full only in this response (and after regenerate)."""
    data = body.model_dump()
    sid = data.pop("id")
    return issued(ctx.store.subscriptions.create(sid=sid, actor=actor, **data))


@router.get("/subscriptions/{sid}", tags=["subscriptions"])
def get_subscription(sid: str, ctx: Ctx, _: Actor) -> dict[str, Any]:
    return jsonable(ctx.store.subscriptions.get(sid))


@router.post("/subscriptions/{sid}/{action}", tags=["subscriptions"])
def subscription_state(sid: str, action: Literal["suspend", "activate", "cancel"], ctx: Ctx,
                       actor: Actor) -> dict[str, Any]:
    state = {"suspend": "suspended", "activate": "active", "cancel": "cancelled"}[action]
    return jsonable(ctx.store.subscriptions.set_state(sid, state, actor=actor))


@router.post("/subscriptions/{sid}/regenerate/{which}", tags=["subscriptions"])
def regenerate(sid: str, which: Literal["primary", "secondary"], ctx: Ctx,
               actor: Actor) -> dict[str, Any]:
    return issued(ctx.store.subscriptions.regenerate_key(sid, which, actor=actor))


@router.delete("/subscriptions/{sid}", tags=["subscriptions"], status_code=204)
def delete_subscription(sid: str, ctx: Ctx, actor: Actor) -> None:
    ctx.store.subscriptions.delete(sid, actor=actor)


@router.get("/users", tags=["users"])
def list_users(ctx: Ctx, _: Actor) -> list[Any]:
    return [jsonable(u) for u in ctx.store.users.list()]


@router.post("/users", tags=["users"], status_code=201)
def create_user(body: UserIn, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return jsonable(ctx.store.users.create(**body.model_dump(), actor=actor))


@router.get("/users/{uid}", tags=["users"])
def get_user(uid: str, ctx: Ctx, _: Actor) -> dict[str, Any]:
    user = jsonable(ctx.store.users.get(uid))
    return {**user, "groups": ctx.store.groups.of_user(uid)}


@router.put("/users/{uid}/state", tags=["users"])
def set_user_state(uid: str, body: StateIn, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return jsonable(ctx.store.users.set_state(uid, body.state, actor=actor))


@router.delete("/users/{uid}", tags=["users"], status_code=204)
def delete_user(uid: str, ctx: Ctx, actor: Actor) -> None:
    ctx.store.users.delete(uid, actor=actor)


@router.get("/groups", tags=["groups"])
def list_groups(ctx: Ctx, _: Actor) -> list[Any]:
    return [{**jsonable(g), "members": ctx.store.groups.members(g.name)}
            for g in ctx.store.groups.list()]


@router.post("/groups", tags=["groups"], status_code=201)
def create_group(body: GroupIn, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return jsonable(ctx.store.groups.create(body.name, body.description, actor=actor))


@router.delete("/groups/{name}", tags=["groups"], status_code=204)
def delete_group(name: str, ctx: Ctx, actor: Actor) -> None:
    ctx.store.groups.delete(name, actor=actor)


@router.put("/groups/{name}/members/{uid}", tags=["groups"], status_code=204)
def add_member(name: str, uid: str, ctx: Ctx, actor: Actor) -> None:
    ctx.store.groups.add_member(name, uid, actor=actor)


@router.delete("/groups/{name}/members/{uid}", tags=["groups"], status_code=204)
def remove_member(name: str, uid: str, ctx: Ctx, actor: Actor) -> None:
    ctx.store.groups.remove_member(name, uid, actor=actor)


@router.get("/audit", tags=["audit"])
def audit(ctx: Ctx, _: Actor, limit: int = Query(100, ge=1, le=1000),
          target: str | None = Query(None, max_length=300)) -> list[Any]:
    return [jsonable(e) for e in ctx.store.audit(limit, target)]

"""Admin API: policy documents at global, product, API and operation scope; named values."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kubegate.admin.api_config import PolicyIn, ValueIn, _overlay_api, _replace_api
from kubegate.admin.changes import apply, check_policy, declared_api, effective, refuse_declared
from kubegate.admin.context import AdminContext
from kubegate.admin.deps import Actor, Ctx
from kubegate.admin.overlay import Overlay, read_overlay
from kubegate.model.config import Api

router = APIRouter()


def _doc(value: str | None, declared: bool) -> dict[str, Any]:
    if value is None:
        raise KeyError("policy")
    return {"document": value, "source": "declared" if declared else "admin"}


@router.get("/policies/global", tags=["policies"])
def get_global(ctx: Ctx,
               _: Actor) -> dict[str, Any]:
    return _doc(effective(ctx).policy, ctx.declared().policy is not None)


@router.put("/policies/global", tags=["policies"])
def put_global(body: PolicyIn, ctx: Ctx,
               actor: Actor) -> dict[str, Any]:
    refuse_declared(ctx, "global policy", "policy", ctx.declared().policy is not None)
    check_policy(ctx, body.document, "policies/global")
    apply(ctx, actor, "policy.put", "policy:global",
          lambda ov: ov.model_copy(update={"policy": body.document}))
    return _doc(body.document, False)


@router.delete("/policies/global", tags=["policies"], status_code=204)
def delete_global(ctx: Ctx, actor: Actor) -> None:
    refuse_declared(ctx, "global policy", "policy", ctx.declared().policy is not None)
    apply(ctx, actor, "policy.delete", "policy:global",
          lambda ov: ov.model_copy(update={"policy": None}))


def _api_policy(ctx: AdminContext, name: str, op_id: str | None) -> str | None:
    for api in effective(ctx).apis:
        if api.name == name:
            if op_id is None:
                return api.policy
            for op in api.operations or ():
                if (op.id or "") == op_id:
                    return op.policy
    raise KeyError(name)


def _set_policy(api: Api, op_id: str | None, policy: str | None) -> Api:
    if op_id is None:
        return api.model_copy(update={"policy": policy})
    ops = list(api.operations or ())
    for i, op in enumerate(ops):
        if op.id == op_id:
            ops[i] = op.model_copy(update={"policy": policy})
            return api.model_copy(update={"operations": ops})
    raise KeyError(op_id)


def _put_api_policy(ctx: AdminContext, actor: str, name: str, op_id: str | None,
                    policy: str | None) -> None:
    refuse_declared(ctx, "API", name, declared_api(ctx, name))
    api = _set_policy(_overlay_api(read_overlay(ctx.store)[0], name), op_id, policy)
    if policy is not None:
        check_policy(ctx, policy, f"apis/{name}" + (f"/operations/{op_id}" if op_id else "")
                     + "/policy", name, op_id or "*")
    target = f"policy:api:{name}" + (f"/{op_id}" if op_id else "")
    apply(ctx, actor, "policy.put" if policy else "policy.delete", target,
          lambda ov: _replace_api(ov, api))


@router.get("/policies/apis/{name}", tags=["policies"])
def get_api_policy(name: str, ctx: Ctx,
                   _: Actor) -> dict[str, Any]:
    return _doc(_api_policy(ctx, name, None), declared_api(ctx, name))


@router.put("/policies/apis/{name}", tags=["policies"])
def put_api_policy(name: str, body: PolicyIn, ctx: Ctx,
                   actor: Actor) -> dict[str, Any]:
    _put_api_policy(ctx, actor, name, None, body.document)
    return _doc(body.document, False)


@router.delete("/policies/apis/{name}", tags=["policies"], status_code=204)
def delete_api_policy(name: str, ctx: Ctx,
                      actor: Actor) -> None:
    _put_api_policy(ctx, actor, name, None, None)


@router.get("/policies/apis/{name}/operations/{op_id}", tags=["policies"])
def get_op_policy(name: str, op_id: str, ctx: Ctx,
                  _: Actor) -> dict[str, Any]:
    return _doc(_api_policy(ctx, name, op_id), declared_api(ctx, name))


@router.put("/policies/apis/{name}/operations/{op_id}", tags=["policies"])
def put_op_policy(name: str, op_id: str, body: PolicyIn, ctx: Ctx,
                  actor: Actor) -> dict[str, Any]:
    _put_api_policy(ctx, actor, name, op_id, body.document)
    return _doc(body.document, False)


@router.get("/policies/products/{name}", tags=["policies"])
def get_product_policy(name: str, ctx: Ctx,
                       _: Actor) -> dict[str, Any]:
    for p in effective(ctx).products:
        if p.name == name:
            return _doc(p.policy, any(d.name == name for d in ctx.declared().products))
    raise KeyError(name)


@router.put("/policies/products/{name}", tags=["policies"])
def put_product_policy(name: str, body: PolicyIn, ctx: Ctx,
                       actor: Actor) -> dict[str, Any]:
    refuse_declared(ctx, "product", name, any(d.name == name for d in ctx.declared().products))
    ctx.store.products.get(name)
    check_policy(ctx, body.document, f"products/{name}/policy")

    def put(ov: Overlay) -> Overlay:
        return ov.model_copy(update={"product_policies": {**ov.product_policies,
                                                          name: body.document}})
    apply(ctx, actor, "policy.put", f"policy:product:{name}", put)
    return _doc(body.document, False)


@router.get("/named-values", tags=["named values"])
def list_values(ctx: Ctx,
                _: Actor) -> dict[str, str]:
    return effective(ctx).named_values


@router.put("/named-values/{name}", tags=["named values"])
def put_value(name: str, body: ValueIn, ctx: Ctx,
              actor: Actor) -> dict[str, str]:
    refuse_declared(ctx, "named value", name, name in ctx.declared().named_values)
    apply(ctx, actor, "named-value.put", f"named-value:{name}",
          lambda ov: ov.model_copy(update={"named_values": {**ov.named_values,
                                                            name: body.value}}))
    return {"name": name, "value": body.value}


@router.delete("/named-values/{name}", tags=["named values"], status_code=204)
def delete_value(name: str, ctx: Ctx,
                 actor: Actor) -> None:
    refuse_declared(ctx, "named value", name, name in ctx.declared().named_values)
    if name not in read_overlay(ctx.store)[0].named_values:
        raise KeyError(name)
    apply(ctx, actor, "named-value.delete", f"named-value:{name}",
          lambda ov: ov.model_copy(update={"named_values": {
              k: v for k, v in ov.named_values.items() if k != name}}))

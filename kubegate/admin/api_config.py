"""Admin API: APIs, operations, policy documents, named values (the admin overlay)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError

from kubegate.admin.changes import (
    apply,
    check_policy,
    declared_api,
    effective,
    problems_of,
    refuse_declared,
)
from kubegate.admin.context import AdminContext
from kubegate.admin.deps import Actor, Ctx
from kubegate.admin.overlay import Overlay, read_overlay, save_spec
from kubegate.model.config import Api, Operation
from kubegate.model.errors import ConfigError
from kubegate.sources.openapi import import_api
from kubegate.sources.openapi.loader import load_document

router = APIRouter()
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


class OperationIn(BaseModel):
    method: str = Field(max_length=10)
    path: str = Field(max_length=2000)
    display_name: str | None = Field(None, max_length=300)
    policy: str | None = Field(None, max_length=1_000_000)


class ApiIn(BaseModel):
    path: str = Field(max_length=2000)
    backend: str = Field(max_length=2000)
    operations: list[OperationIn] | None = None
    policy: str | None = Field(None, max_length=1_000_000)
    subscription_required: bool = False


class ImportIn(BaseModel):
    path: str = Field(max_length=2000, description="API URL suffix")
    name: str | None = Field(None, pattern=NAME)
    source: str | None = Field(None, max_length=4000, description="spec URL or file path")
    document: dict[str, Any] | None = Field(None, description="the spec itself, inline")
    backend: str | None = Field(None, max_length=2000)


class PolicyIn(BaseModel):
    document: str = Field(max_length=1_000_000, description="APIM policy XML")


class ValueIn(BaseModel):
    value: str = Field(max_length=100_000)


def _api_view(api: Api, declared: bool) -> dict[str, Any]:
    data = api.model_dump(mode="json", exclude_none=True)
    data["source"] = "declared" if declared else "admin"
    return data


def _overlay_api(ov: Overlay, name: str) -> Api:
    for api in ov.apis:
        if api.name == name:
            return api
    raise KeyError(name)


def _replace_api(ov: Overlay, api: Api) -> Overlay:
    apis = [a for a in ov.apis if a.name != api.name] + [api]
    return ov.model_copy(update={"apis": apis})


def _find(ctx: AdminContext, name: str) -> Api:
    for api in effective(ctx).apis:
        if api.name == name:
            return api
    raise KeyError(name)


@router.get("/apis", tags=["apis"])
def list_apis(ctx: Ctx, _: Actor) -> list[Any]:
    declared = {a.name for a in ctx.declared().apis}
    return [_api_view(a, a.name in declared) for a in effective(ctx).apis]


@router.get("/apis/{name}", tags=["apis"])
def get_api(name: str, ctx: Ctx,
            _: Actor) -> dict[str, Any]:
    return _api_view(_find(ctx, name), declared_api(ctx, name))


@router.put("/apis/{name}", tags=["apis"])
def put_api(name: str, body: ApiIn, ctx: Ctx,
            actor: Actor) -> dict[str, Any]:
    refuse_declared(ctx, "API", name, declared_api(ctx, name))
    try:
        api = Api.model_validate({"name": name, **body.model_dump(exclude_none=True)})
    except ValidationError as exc:
        raise problems_of(exc) from None
    if api.policy:
        check_policy(ctx, api.policy, f"apis/{name}/policy", name)
    apply(ctx, actor, "api.put", f"api:{name}", lambda ov: _replace_api(ov, api),
          {"path": api.path, "backend": api.backend})
    return _api_view(api, False)


@router.post("/apis/import", tags=["apis"])
def import_spec(body: ImportIn, ctx: Ctx,
                actor: Actor) -> dict[str, Any]:
    if (body.source is None) == (body.document is None):
        raise ConfigError.one("give either source (URL or file) or document", field="source")
    with tempfile.TemporaryDirectory() as tmp:
        source = body.source
        if body.document is not None:
            source = str(Path(tmp) / "spec.json")
            Path(source).write_text(json.dumps(body.document), encoding="utf-8")
        assert source is not None
        result = import_api(source, path=body.path or "/", name=body.name, backend=body.backend)
        document = body.document if body.document is not None else load_document(source)[0]
    api = result.api
    refuse_declared(ctx, "API", api.name, declared_api(ctx, api.name))
    if api.backend is None:
        raise ConfigError.one("the spec names no backend URL: pass backend", field="backend")
    api = api.model_copy(update={"openapi": None})
    apply(ctx, actor, "api.import", f"api:{api.name}", lambda ov: _replace_api(ov, api),
          {"source": body.source or "(inline)", "operations": len(api.operations or ())})
    save_spec(ctx.store, api.name, document if isinstance(document, dict) else None, actor)
    return {"api": _api_view(api, False), "summary": result.summary.to_dict()}


@router.delete("/apis/{name}", tags=["apis"], status_code=204)
def delete_api(name: str, ctx: Ctx,
               actor: Actor) -> None:
    refuse_declared(ctx, "API", name, declared_api(ctx, name))
    _overlay_api(read_overlay(ctx.store)[0], name)
    apply(ctx, actor, "api.delete", f"api:{name}",
          lambda ov: ov.model_copy(update={"apis": [a for a in ov.apis if a.name != name]}))
    save_spec(ctx.store, name, None, actor)


def _op_id(op: Operation) -> str:
    return op.id or f"{op.method.lower()}-{op.path.strip('/').replace('/', '-') or 'root'}"


@router.get("/apis/{name}/operations", tags=["operations"])
def list_operations(name: str, ctx: Ctx,
                    _: Actor) -> list[Any]:
    return [{"id": _op_id(op), **op.model_dump(mode="json", exclude_none=True)}
            for op in _find(ctx, name).operations or ()]


@router.put("/apis/{name}/operations/{op_id}", tags=["operations"])
def put_operation(name: str, op_id: str, body: OperationIn, ctx: Ctx,
                  actor: Actor) -> dict[str, Any]:
    refuse_declared(ctx, "API", name, declared_api(ctx, name))
    api = _overlay_api(read_overlay(ctx.store)[0], name)
    try:
        op = Operation.model_validate({"id": op_id, **body.model_dump(exclude_none=True)})
    except ValidationError as exc:
        raise problems_of(exc) from None
    if op.policy:
        check_policy(ctx, op.policy, f"apis/{name}/operations/{op_id}/policy", name, op_id)
    ops = [o for o in api.operations or () if _op_id(o) != op_id] + [op]
    new = api.model_copy(update={"operations": ops})
    apply(ctx, actor, "operation.put", f"api:{name}/{op_id}", lambda ov: _replace_api(ov, new))
    return {"id": op_id, **op.model_dump(mode="json", exclude_none=True)}


@router.delete("/apis/{name}/operations/{op_id}", tags=["operations"], status_code=204)
def delete_operation(name: str, op_id: str, ctx: Ctx,
                     actor: Actor) -> None:
    refuse_declared(ctx, "API", name, declared_api(ctx, name))
    api = _overlay_api(read_overlay(ctx.store)[0], name)
    ops = [o for o in api.operations or () if _op_id(o) != op_id]
    if len(ops) == len(api.operations or ()):
        raise KeyError(op_id)
    new = api.model_copy(update={"operations": ops})
    apply(ctx, actor, "operation.delete", f"api:{name}/{op_id}", lambda ov: _replace_api(ov, new))

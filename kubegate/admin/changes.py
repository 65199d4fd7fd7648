"""Validated, audited changes to the admin overlay.

Every change builds the whole effective configuration and compiles it (routes
and policy pipelines, as a reload would) inside the store transaction that
writes it; if anything fails, ConfigError lists the problems and nothing is
stored. Entries the declared YAML defines are read-only here (`DeclaredEntry`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from kubegate.admin.context import AdminContext
from kubegate.admin.overlay import (
    Overlay,
    change_overlay,
    merge_overlay,
    read_overlay,
    shadowed,
)
from kubegate.compile.merge import merge_policies
from kubegate.compile.snapshot import build_snapshot
from kubegate.model.config import Config
from kubegate.model.errors import ConfigError, Problem
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.pipeline import compile_pipeline
from kubegate.sources.apim.xml_loader import load_policy_xml


class DeclaredEntry(Exception):
    """The entry comes from the declared YAML, which wins; edit the file instead."""


def problems_of(exc: ValidationError, prefix: str = "") -> ConfigError:
    return ConfigError([
        Problem(e["msg"], field=prefix + ".".join(str(x) for x in e["loc"]))
        for e in exc.errors()
    ])


def effective(ctx: AdminContext, overlay: Overlay | None = None) -> Config:
    if overlay is None:
        overlay, _ = read_overlay(ctx.store)
    products = ctx.store.products.list() if overlay.product_policies else []
    return merge_overlay(ctx.declared(), overlay, products)


def check_policy(ctx: AdminContext, text: str, where: str, api: str = "*",
                 operation: str = "*") -> None:
    """Parse and compile one policy document on its own (ConfigError with line/column)."""
    if not text.lstrip().startswith("<"):
        raise ConfigError.one("a policy document must be APIM policy XML (<policies>...)",
                              field=where)
    doc = load_policy_xml(text, where)
    merged = merge_policies(global_=doc)
    config = effective(ctx)
    spec = ctx.specs(config).get(api)
    # validate-* policies compile against the API's OpenAPI operations: check each one
    ops = [o for o in spec.operations if operation in ("*", o.id)] if spec is not None else []
    for spec_op in ops or [None]:
        compile_pipeline(merged, CompileEnv(named_values=config.named_values,
                                            base_dir=ctx.base_dir, api_id=api,
                                            operation_id=operation, openapi=spec,
                                            openapi_operation=spec_op))


def apply(ctx: AdminContext, actor: str, action: str, target: str,
          mutate: Callable[[Overlay], Overlay], details: dict[str, Any] | None = None) -> Overlay:
    """Mutate the overlay, validate the effective configuration, store it; audited."""
    declared = ctx.declared()

    def checked(current: Overlay) -> Overlay:
        try:
            new = Overlay.model_validate(mutate(current).model_dump())
            hidden = set(shadowed(declared, new)) - set(shadowed(declared, current))
            if hidden:
                raise ConfigError([Problem("clashes with the declared configuration (same "
                                           "name or path), which wins", field=h)
                                   for h in sorted(hidden)])
            config = Config.model_validate(merge_overlay(declared, new, ctx.store.products.list()
                                                         ).model_dump())
        except ValidationError as exc:
            raise problems_of(exc) from None
        build_snapshot(config, ctx.base_dir, specs=ctx.specs(config))
        return new

    return change_overlay(ctx.store, checked, actor=actor, action=action, target=target,
                          details=details)


def declared_api(ctx: AdminContext, name: str) -> bool:
    return any(a.name == name for a in ctx.declared().apis)


def refuse_declared(ctx: AdminContext, kind: str, name: str, is_declared: bool) -> None:
    if is_declared:
        raise DeclaredEntry(f"{kind} {name!r} is declared in the configuration file, which "
                            "takes precedence; change it there")

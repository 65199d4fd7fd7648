"""The admin overlay: configuration made through the admin API, kept in the store.

How it works: the overlay is one YAML document (an `Overlay`) in the row
`overlay` of the table `kg_admin_overlay`, plus one row per imported OpenAPI
document (`spec:<api>`, JSON) for the developer portal. Every write goes through
`Database.change`, so in one transaction it bumps the store's change counter
(other replicas see it, as they do subscription changes), writes the row and
appends an audit entry. The change counter's row lock (PostgreSQL) or the write
lock taken first (SQLite) serializes writers: a writer reads the overlay inside
its transaction, so concurrent changes never overwrite each other.

Precedence (`overlay_config`): the declared configuration (YAML) wins. An API,
product policy, global policy or named value the YAML defines is never
replaced by the overlay; the admin API refuses to change such entries (409) and
an overlay entry that a later YAML edit shadows is ignored and reported by
`shadowed`. The overlay only adds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import Field
from ruamel.yaml import YAML
from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, insert, select, update

from kubegate.model.config import Api, Config, Product, Strict
from kubegate.store import Store

metadata = MetaData()
admin_overlay = Table(
    "kg_admin_overlay", metadata,
    Column("key", String(300), primary_key=True),
    Column("value", Text, nullable=False),
    Column("revision", BigInteger, nullable=False),
)
OVERLAY_KEY = "overlay"


class Overlay(Strict):
    """What the admin API adds to the declared configuration."""

    apis: list[Api] = Field(default_factory=list)
    policy: str | None = None
    product_policies: dict[str, str] = Field(default_factory=dict)
    named_values: dict[str, str] = Field(default_factory=dict)


def _yaml() -> YAML:
    y = YAML(typ="safe", pure=True)
    y.default_flow_style = False
    return y


def dump_yaml(data: Any) -> str:
    from io import StringIO

    out = StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


_READY: set[str] = set()  # store URLs whose overlay table is known to exist


def ensure_table(store: Store) -> None:
    """Create the overlay table once per store; concurrent first calls serialize on
    the write lock (BEGIN IMMEDIATE on SQLite) instead of racing."""
    key = store.db.engine.url.render_as_string(hide_password=False)
    if key in _READY:
        return
    with store.db.engine.connect() as plain, \
            plain.execution_options(sqlite_immediate=True).begin() as transaction:
        admin_overlay.create(transaction.connection, checkfirst=True)
    _READY.add(key)


def read_overlay(store: Store) -> tuple[Overlay, int]:
    """The stored overlay and its revision (0 and empty when none was ever written)."""
    ensure_table(store)
    with store.db.read("read admin overlay") as conn:
        row = conn.execute(select(admin_overlay).where(admin_overlay.c.key == OVERLAY_KEY)).first()
    if row is None:
        return Overlay(), 0
    return Overlay.model_validate(_yaml().load(row.value) or {}), int(row.revision)


def overlay_revision(store: Store) -> int:
    return read_overlay(store)[1]


def config_revision(store: Store) -> tuple[int, int]:
    """What the compiled configuration depends on in the store: the overlay's revision
    and the products (their APIs and flags); a change reloads the gateway."""
    products = tuple((p.name, p.apis, p.subscription_required, p.approval_required)
                     for p in store.products.list())
    return overlay_revision(store), hash(products)


def change_overlay(store: Store, mutate: Callable[[Overlay], Overlay], *, actor: str,
                   action: str, target: str, details: dict[str, Any] | None = None) -> Overlay:
    """Apply `mutate` to the current overlay in one audited transaction.

    `mutate` may raise (e.g. ConfigError when the result does not compile); then
    nothing is written."""
    ensure_table(store)
    with store.db.change(f"{action} {target}", actor, action, target) as ch:
        row = ch.conn.execute(select(admin_overlay).where(
            admin_overlay.c.key == OVERLAY_KEY)).first()
        current = Overlay.model_validate(_yaml().load(row.value) or {}) if row else Overlay()
        new = mutate(current)
        text = dump_yaml(new.model_dump(mode="json", exclude_defaults=True))
        if row is None:
            ch.conn.execute(insert(admin_overlay).values(key=OVERLAY_KEY, value=text, revision=1))
        else:
            ch.conn.execute(update(admin_overlay).where(admin_overlay.c.key == OVERLAY_KEY)
                            .values(value=text, revision=admin_overlay.c.revision + 1))
        ch.details = details or {}
    return new


def save_spec(store: Store, api: str, document: dict[str, Any] | None, actor: str) -> None:
    """Keep (or, with None, forget) the OpenAPI document an API was imported from."""
    ensure_table(store)
    key = f"spec:{api}"
    with store.db.change(f"save spec of {api}", actor, "api.spec", api) as ch:
        ch.conn.execute(admin_overlay.delete().where(admin_overlay.c.key == key))
        if document is not None:
            ch.conn.execute(insert(admin_overlay).values(key=key, value=json.dumps(document),
                                                         revision=1))


def load_spec_document(store: Store, api: str) -> dict[str, Any] | None:
    ensure_table(store)
    with store.db.read("read spec") as conn:
        value = conn.execute(select(admin_overlay.c.value).where(
            admin_overlay.c.key == f"spec:{api}")).scalar()
    return None if value is None else dict(json.loads(value))


def merge_overlay(declared: Config, overlay: Overlay,
                  store_products: list[Any] | None = None) -> Config:
    """Declared config + overlay, declared winning (see the module docstring)."""
    names = {a.name for a in declared.apis}
    paths = {a.path for a in declared.apis}
    apis = list(declared.apis)
    for api in overlay.apis:
        if api.name not in names and api.path not in paths:
            apis.append(api)
            names.add(api.name)
            paths.add(api.path)
    products = list(declared.products)
    declared_products = {p.name for p in declared.products}
    by_name = {p.name: p for p in store_products or ()}
    # Every store product counts (open ones admit key-less calls, protected ones make
    # their APIs need a key), with the overlay's policy when it has one.
    for name in sorted(set(overlay.product_policies) | set(by_name)):
        if name in declared_products:
            continue
        sp = by_name.get(name)
        policy = overlay.product_policies.get(name)
        products.append(Product(
            name=name, apis=list(sp.apis) if sp else [], policy=policy,
            subscription_required=sp.subscription_required if sp else True,
            approval_required=sp.approval_required if sp else False))
    return declared.model_copy(update={
        "apis": apis,
        "policy": declared.policy if declared.policy is not None else overlay.policy,
        "products": products,
        "named_values": {**overlay.named_values, **declared.named_values},
    })


def shadowed(declared: Config, overlay: Overlay) -> list[str]:
    """Overlay entries the declared configuration hides (and so are ignored)."""
    out = [f"apis/{a.name}" for a in overlay.apis
           if any(d.name == a.name or d.path == a.path for d in declared.apis)]
    if overlay.policy is not None and declared.policy is not None:
        out.append("policy")
    out += [f"products/{p}/policy" for p in overlay.product_policies
            if any(d.name == p for d in declared.products)]
    out += [f"named-values/{k}" for k in overlay.named_values if k in declared.named_values]
    return out


def overlay_config(declared: Config, store: Store) -> Config:
    """The effective configuration: `declared` with the store's admin overlay merged in."""
    overlay, _ = read_overlay(store)
    return merge_overlay(declared, overlay, store.products.list())

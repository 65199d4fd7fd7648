"""Products: named bundles of APIs, open or subscription-required."""

from __future__ import annotations

import builtins
import re
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from kubegate.store.database import Database
from kubegate.store.errors import Conflict, NotFound
from kubegate.store.records import Product, utc
from kubegate.store.schema import products, subscriptions

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def _product(row: Any) -> Product:
    return Product(
        name=row.name, display_name=row.display_name, description=row.description,
        subscription_required=bool(row.subscription_required),
        approval_required=bool(row.approval_required), apis=tuple(row.apis or ()),
        created=utc(row.created),
    )


class Products:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> builtins.list[Product]:
        with self.db.read("list products") as conn:
            return [_product(r) for r in conn.execute(select(products).order_by(products.c.name))]

    def get(self, name: str) -> Product:
        with self.db.read(f"get product {name!r}") as conn:
            row = conn.execute(select(products).where(products.c.name == name)).first()
        if row is None:
            raise NotFound(f"product {name!r} does not exist")
        return _product(row)

    def create(self, name: str, *, display_name: str | None = None, description: str = "",
               subscription_required: bool = True, approval_required: bool = False,
               apis: builtins.list[str] | tuple[str, ...] = (), actor: str = "system") -> Product:
        if not NAME.match(name):
            raise Conflict(f"invalid product name {name!r}: letters, digits, '_', '.', '-'")
        product = Product(name, display_name or name, description, subscription_required,
                          approval_required, tuple(dict.fromkeys(apis)), self.db.clock())
        with self.db.change(f"create product {name!r}", actor, "product.create", name) as ch:
            if ch.conn.execute(select(products.c.name).where(products.c.name == name)).first():
                raise Conflict(f"product {name!r} already exists")
            values = {**product.__dict__, "apis": list(product.apis)}
            ch.conn.execute(insert(products).values(**values))
            ch.details = {"apis": list(product.apis),
                          "subscription_required": subscription_required}
        return product

    def set_apis(self, name: str, apis: builtins.list[str], actor: str = "system") -> Product:
        with self.db.change(f"update product {name!r}", actor, "product.apis", name) as ch:
            done = ch.conn.execute(update(products).where(products.c.name == name)
                                   .values(apis=list(dict.fromkeys(apis))))
            if done.rowcount == 0:
                raise NotFound(f"product {name!r} does not exist")
            ch.details = {"apis": apis}
        return self.get(name)

    def delete(self, name: str, *, delete_subscriptions: bool = False,
               actor: str = "system") -> int:
        """Delete a product; returns how many of its subscriptions were deleted with it."""
        scope = f"product:{name}"
        with self.db.change(f"delete product {name!r}", actor, "product.delete", name) as ch:
            if ch.conn.execute(select(products.c.name).where(products.c.name == name)).first() \
                    is None:
                raise NotFound(f"product {name!r} does not exist")
            count = ch.conn.execute(select(func.count()).select_from(subscriptions)
                                    .where(subscriptions.c.scope == scope)).scalar_one()
            if count and not delete_subscriptions:
                raise Conflict(f"product {name!r} has {count} subscription(s); delete them "
                               "first or pass delete_subscriptions (--delete-subscriptions)")
            ch.conn.execute(delete(subscriptions).where(subscriptions.c.scope == scope))
            ch.conn.execute(delete(products).where(products.c.name == name))
            ch.details = {"subscriptions_deleted": count}
        return int(count)

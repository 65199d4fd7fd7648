"""Subscriptions: a scope, a state, two key hashes, an optional owner.

State machine (anything else is a Conflict; setting the current state is a no-op):
submitted -> active | cancelled; active -> suspended | cancelled | expired;
suspended -> active | cancelled | expired; expired -> active | cancelled; cancelled is final.
"""

from __future__ import annotations

import builtins
import secrets
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update

from kubegate.store.database import Database
from kubegate.store.errors import Conflict, NotFound
from kubegate.store.keygen import generate_key, hash_key
from kubegate.store.products import NAME
from kubegate.store.records import SUBSCRIPTION_STATES, IssuedKeys, KeyEntry, Subscription, utc
from kubegate.store.schema import products, subscriptions

Which = Literal["primary", "secondary"]
TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"active", "cancelled"}),
    "active": frozenset({"suspended", "cancelled", "expired"}),
    "suspended": frozenset({"active", "cancelled", "expired"}),
    "expired": frozenset({"active", "cancelled"}),
    "cancelled": frozenset(),
}
_COLUMNS = [c for c in subscriptions.c if not c.name.endswith("_hash")]


def check_scope(scope: str) -> str:
    kind, sep, name = scope.partition(":")
    if scope == "all" or (sep and kind in ("product", "api") and NAME.match(name)):
        return scope
    raise Conflict(f"invalid scope {scope!r}: expected product:<name>, api:<name> or all")


def _subscription(row: Any) -> Subscription:
    return Subscription(row.id, row.name, row.scope, row.state, row.owner_id, utc(row.created),
                        utc(row.expires), bool(row.allow_tracing))


class Subscriptions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, *, scope: str | None = None, state: str | None = None,
             owner_id: str | None = None) -> builtins.list[Subscription]:
        query = select(*_COLUMNS).order_by(subscriptions.c.created, subscriptions.c.id)
        for column, value in (("scope", scope), ("state", state), ("owner_id", owner_id)):
            if value is not None:
                query = query.where(subscriptions.c[column] == value)
        with self.db.read("list subscriptions") as conn:
            return [_subscription(r) for r in conn.execute(query)]

    def get(self, sid: str) -> Subscription:
        with self.db.read(f"get subscription {sid!r}") as conn:
            row = conn.execute(select(*_COLUMNS).where(subscriptions.c.id == sid)).first()
        if row is None:
            raise NotFound(f"subscription {sid!r} does not exist")
        return _subscription(row)

    def create(self, name: str, scope: str, *, sid: str | None = None,
               owner_id: str | None = None, state: str | None = None,
               expires: datetime | None = None, allow_tracing: bool = False,
               primary_key: str | None = None, secondary_key: str | None = None,
               actor: str = "system") -> IssuedKeys:
        """New subscription; keys are generated unless given (e.g. imported from APIM).

        Without an explicit state it is `active`, or `submitted` when its product
        requires approval.
        """
        check_scope(scope)
        sid = sid or secrets.token_hex(12)
        if not NAME.match(sid):
            raise Conflict(f"invalid subscription id {sid!r}")
        if state is not None and state not in SUBSCRIPTION_STATES:
            raise Conflict(f"invalid state {state!r}: one of {', '.join(SUBSCRIPTION_STATES)}")
        primary, secondary = primary_key or generate_key(), secondary_key or generate_key()
        if primary == secondary:
            raise Conflict("primary and secondary keys must differ")
        with self.db.change(f"create subscription {sid!r}", actor, "subscription.create",
                            sid) as ch:
            if state is None:
                state = "active"
                if scope.startswith("product:"):
                    approval = ch.conn.execute(select(products.c.approval_required).where(
                        products.c.name == scope[8:])).scalar()
                    state = "submitted" if approval else "active"
            sub = Subscription(sid, name, scope, state, owner_id, self.db.clock(),
                               utc(expires), allow_tracing)
            if ch.conn.execute(select(subscriptions.c.id).where(subscriptions.c.id == sid)).first():
                raise Conflict(f"subscription {sid!r} already exists")
            ch.conn.execute(insert(subscriptions).values(
                **sub.__dict__, primary_hash=hash_key(primary), secondary_hash=hash_key(secondary)))
            ch.details = {"name": name, "scope": scope, "state": state, "owner_id": owner_id}
        return IssuedKeys(sub, primary, secondary)

    def set_state(self, sid: str, state: str, actor: str = "system") -> Subscription:
        with self.db.change(f"set state of subscription {sid!r}", actor,
                            f"subscription.{state}", sid) as ch:
            current = ch.conn.execute(select(subscriptions.c.state)
                                      .where(subscriptions.c.id == sid)).scalar()
            if current is None:
                raise NotFound(f"subscription {sid!r} does not exist")
            if current != state and state not in TRANSITIONS.get(current, frozenset()):
                raise Conflict(f"subscription {sid!r} is {current}; it cannot become {state}")
            ch.conn.execute(update(subscriptions).where(subscriptions.c.id == sid)
                            .values(state=state))
            ch.details = {"from": current, "to": state}
        return self.get(sid)

    def suspend(self, sid: str, actor: str = "system") -> Subscription:
        return self.set_state(sid, "suspended", actor)

    def activate(self, sid: str, actor: str = "system") -> Subscription:
        return self.set_state(sid, "active", actor)

    def cancel(self, sid: str, actor: str = "system") -> Subscription:
        return self.set_state(sid, "cancelled", actor)

    def regenerate_key(self, sid: str, which: Which, actor: str = "system") -> IssuedKeys:
        """Replace one key; the other keeps working, so clients can rotate without downtime."""
        if which not in ("primary", "secondary"):
            raise Conflict(f"which key: 'primary' or 'secondary', not {which!r}")
        key = generate_key()
        with self.db.change(f"regenerate {which} key of {sid!r}", actor,
                            f"subscription.regenerate-{which}", sid) as ch:
            done = ch.conn.execute(update(subscriptions).where(subscriptions.c.id == sid)
                                   .values({f"{which}_hash": hash_key(key)}))
            if done.rowcount == 0:
                raise NotFound(f"subscription {sid!r} does not exist")
        sub = self.get(sid)
        return IssuedKeys(sub, primary_key=key) if which == "primary" else IssuedKeys(
            sub, secondary_key=key)

    def delete(self, sid: str, actor: str = "system") -> None:
        with self.db.change(f"delete subscription {sid!r}", actor, "subscription.delete",
                            sid) as ch:
            done = ch.conn.execute(delete(subscriptions).where(subscriptions.c.id == sid))
            if done.rowcount == 0:
                raise NotFound(f"subscription {sid!r} does not exist")

    def key_entries(self) -> builtins.list[KeyEntry]:
        with self.db.read("load subscription keys") as conn:
            return [
                KeyEntry(r.id, r.name, r.scope, r.state, r.owner_id, utc(r.expires),
                         bool(r.allow_tracing), r.primary_hash, r.secondary_hash)
                for r in conn.execute(select(subscriptions))
            ]

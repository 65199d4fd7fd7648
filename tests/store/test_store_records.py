"""Products, subscriptions, users, groups and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from kubegate.store import Conflict, NotFound, Store

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def store(migrated_url: str) -> Iterator[Store]:
    with Store(migrated_url, clock=lambda: T0) as s:
        yield s


def test_products_create_list_get_delete(store: Store) -> None:
    p = store.products.create("starter", apis=["echo", "pets", "echo"], description="d")
    assert p.apis == ("echo", "pets") and p.display_name == "starter" and p.created == T0
    store.products.create("open", subscription_required=False, display_name="Open")
    assert [x.name for x in store.products.list()] == ["open", "starter"]
    assert store.products.get("starter") == p
    assert store.products.get("open").subscription_required is False
    assert store.products.set_apis("open", ["x"]).apis == ("x",)
    with pytest.raises(Conflict, match="already exists"):
        store.products.create("starter")
    with pytest.raises(Conflict, match="invalid product name"):
        store.products.create("bad name")
    assert store.products.delete("open") == 0
    with pytest.raises(NotFound, match="'open' does not exist"):
        store.products.get("open")


def test_product_with_subscriptions_is_only_deleted_on_request(store: Store) -> None:
    store.products.create("starter")
    store.subscriptions.create("a", "product:starter")
    store.subscriptions.create("b", "api:echo")
    with pytest.raises(Conflict, match="1 subscription"):
        store.products.delete("starter")
    assert store.products.delete("starter", delete_subscriptions=True) == 1
    assert [s.name for s in store.subscriptions.list()] == ["b"]


def test_keys_are_random_hex_and_only_their_hashes_are_stored(store: Store) -> None:
    issued = store.subscriptions.create("alice", "all")
    keys = [issued.primary_key, issued.secondary_key]
    for key in keys:
        assert key is not None and re.fullmatch(r"[0-9a-f]{32}", key)
    assert keys[0] != keys[1]
    (entry,) = store.key_entries()
    assert entry.primary_hash == hashlib.sha256(keys[0].encode()).hexdigest()  # type: ignore[union-attr]
    assert entry.secondary_hash == hashlib.sha256(keys[1].encode()).hexdigest()  # type: ignore[union-attr]
    with store.db.read("dump") as conn:
        dump = repr(conn.execute(text("SELECT * FROM kg_subscriptions")).all())
        dump += repr(conn.execute(text("SELECT * FROM kg_audit_log")).all())
    assert all(k not in dump for k in keys)  # type: ignore[operator]


def test_subscription_fields_round_trip(store: Store) -> None:
    user = store.users.create("Dev@Example.com", first_name="D")
    expires = datetime(2027, 5, 1, 12, tzinfo=UTC)
    sub = store.subscriptions.create("bob", "api:echo", sid="bob-1", owner_id=user.id,
                                     expires=expires, allow_tracing=True).subscription
    got = store.subscriptions.get("bob-1")
    assert got == sub
    assert got.expires == expires and got.created == T0 and got.owner_id == user.id
    assert got.allow_tracing is True and got.state == "active"
    assert store.subscriptions.list(owner_id=user.id) == [got]
    assert store.subscriptions.list(scope="all") == []


def test_invalid_scope_state_and_duplicate_id(store: Store) -> None:
    for scope in ("products:x", "api:", "everything", "product:a b"):
        with pytest.raises(Conflict, match="invalid scope"):
            store.subscriptions.create("x", scope)
    with pytest.raises(Conflict, match="invalid state"):
        store.subscriptions.create("x", "all", state="paused")
    store.subscriptions.create("x", "all", sid="dup")
    with pytest.raises(Conflict, match="already exists"):
        store.subscriptions.create("y", "all", sid="dup")


def test_approval_required_products_start_submitted(store: Store) -> None:
    store.products.create("gold", approval_required=True)
    sub = store.subscriptions.create("c", "product:gold").subscription
    assert sub.state == "submitted"
    assert store.subscriptions.activate(sub.id).state == "active"


def test_state_transitions(store: Store) -> None:
    sid = store.subscriptions.create("s", "all").subscription.id
    assert store.subscriptions.suspend(sid).state == "suspended"
    assert store.subscriptions.suspend(sid).state == "suspended"  # idempotent
    assert store.subscriptions.activate(sid).state == "active"
    assert store.subscriptions.set_state(sid, "expired").state == "expired"
    assert store.subscriptions.cancel(sid).state == "cancelled"
    with pytest.raises(Conflict, match="is cancelled; it cannot become active"):
        store.subscriptions.activate(sid)
    with pytest.raises(NotFound):
        store.subscriptions.suspend("missing")


def test_regenerating_one_key_keeps_the_other(store: Store) -> None:
    issued = store.subscriptions.create("r", "all")
    sid = issued.subscription.id
    before = store.key_entries()[0]
    again = store.subscriptions.regenerate_key(sid, "primary")
    assert again.secondary_key is None and again.primary_key not in (None, issued.primary_key)
    after = store.key_entries()[0]
    assert after.primary_hash != before.primary_hash
    assert after.secondary_hash == before.secondary_hash
    sec = store.subscriptions.regenerate_key(sid, "secondary")
    assert sec.primary_key is None and sec.secondary_key
    assert store.key_entries()[0].primary_hash == after.primary_hash
    with pytest.raises(NotFound):
        store.subscriptions.regenerate_key("missing", "primary")
    with pytest.raises(Conflict):
        store.subscriptions.regenerate_key(sid, "tertiary")  # type: ignore[arg-type]


def test_every_change_bumps_the_version_and_is_audited(store: Store) -> None:
    v0 = store.version()
    sid = store.subscriptions.create("a", "all").subscription.id
    store.subscriptions.suspend(sid, actor="cli:ops")
    assert store.version() == v0 + 2
    with pytest.raises(Conflict):
        store.subscriptions.create("b", "all", sid=sid)
    with pytest.raises(NotFound):
        store.subscriptions.delete("missing")
    assert store.version() == v0 + 2  # failed changes leave no trace
    store.subscriptions.delete(sid)
    assert store.version() == v0 + 3
    log = store.audit(target=sid)
    assert [(e.action, e.actor) for e in log] == [
        ("subscription.delete", "system"), ("subscription.suspended", "cli:ops"),
        ("subscription.create", "system")]
    assert log[1].details == {"from": "active", "to": "suspended"} and log[1].at == T0


def test_users_passwords_and_groups(store: Store) -> None:
    u = store.users.create("Ann@Example.com", password="correct horse", last_name="A")
    assert u.email == "ann@example.com"
    assert store.users.check_password("ann@example.com", "correct horse") == u
    assert store.users.check_password("ann@example.com", "wrong") is None
    assert store.users.check_password("nobody@example.com", "x") is None
    with pytest.raises(Conflict, match="exists"):
        store.users.create("ann@example.com")
    store.users.set_state(u.id, "blocked")
    assert store.users.check_password("ann@example.com", "correct horse") is None
    store.groups.create("developers")
    store.groups.add_member("developers", u.id)
    store.groups.add_member("developers", u.id)
    assert store.groups.members("developers") == [u.id]
    assert store.groups.of_user(u.id) == ["developers"]
    with pytest.raises(NotFound):
        store.groups.add_member("developers", "ghost")
    sid = store.subscriptions.create("s", "all", owner_id=u.id).subscription.id
    store.users.delete(u.id)
    assert store.subscriptions.get(sid).owner_id is None
    assert store.groups.members("developers") == []
    store.groups.delete("developers")
    assert store.groups.list() == []


def test_expired_by_date_is_reported_as_stored(store: Store) -> None:
    past = T0 - timedelta(days=1)
    store.subscriptions.create("old", "all", expires=past)
    (entry,) = store.key_entries()
    assert entry.expires == past and entry.state == "active"

"""Users (subscription owners, later portal accounts) and groups of users."""

from __future__ import annotations

import builtins
import secrets
from typing import Any

from sqlalchemy import delete, insert, select, update

from kubegate.store.database import Database
from kubegate.store.errors import Conflict, NotFound
from kubegate.store.keygen import hash_password, verify_password
from kubegate.store.records import USER_STATES, Group, User, utc
from kubegate.store.schema import groups, memberships, users

_PUBLIC = [c for c in users.c if c.name != "password_hash"]


def _user(row: Any) -> User:
    return User(row.id, row.email, row.first_name, row.last_name, row.state, utc(row.created))


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> builtins.list[User]:
        with self.db.read("list users") as conn:
            return [_user(r) for r in conn.execute(select(*_PUBLIC).order_by(users.c.email))]

    def get(self, uid: str) -> User:
        with self.db.read(f"get user {uid!r}") as conn:
            row = conn.execute(select(*_PUBLIC).where(users.c.id == uid)).first()
        if row is None:
            raise NotFound(f"user {uid!r} does not exist")
        return _user(row)

    def create(self, email: str, *, uid: str | None = None, password: str | None = None,
               first_name: str = "", last_name: str = "", state: str = "active",
               actor: str = "system") -> User:
        if "@" not in email:
            raise Conflict(f"invalid email address {email!r}")
        if state not in USER_STATES:
            raise Conflict(f"invalid user state {state!r}: one of {', '.join(USER_STATES)}")
        user = User(uid or secrets.token_hex(8), email.strip().lower(), first_name, last_name,
                    state, self.db.clock())
        pw_hash = hash_password(password) if password is not None else None
        with self.db.change(f"create user {email!r}", actor, "user.create", user.id) as ch:
            taken = ch.conn.execute(select(users.c.id).where(
                (users.c.id == user.id) | (users.c.email == user.email))).first()
            if taken:
                raise Conflict(f"a user with id {user.id!r} or email {user.email!r} exists")
            ch.conn.execute(insert(users).values(**user.__dict__, password_hash=pw_hash))
            ch.details = {"email": user.email}
        return user

    def check_password(self, email: str, password: str) -> User | None:
        """The user if the password matches and the account is active, else None."""
        with self.db.read("check password") as conn:
            row = conn.execute(select(users).where(users.c.email == email.strip().lower())).first()
        if row is None or row.password_hash is None or row.state != "active":
            return None
        return _user(row) if verify_password(password, row.password_hash) else None

    def set_state(self, uid: str, state: str, actor: str = "system") -> User:
        if state not in USER_STATES:
            raise Conflict(f"invalid user state {state!r}")
        with self.db.change(f"set state of user {uid!r}", actor, f"user.{state}", uid) as ch:
            if ch.conn.execute(update(users).where(users.c.id == uid)
                               .values(state=state)).rowcount == 0:
                raise NotFound(f"user {uid!r} does not exist")
        return self.get(uid)

    def delete(self, uid: str, actor: str = "system") -> None:
        """Delete a user; their subscriptions stay, without an owner."""
        with self.db.change(f"delete user {uid!r}", actor, "user.delete", uid) as ch:
            if ch.conn.execute(delete(users).where(users.c.id == uid)).rowcount == 0:
                raise NotFound(f"user {uid!r} does not exist")


class Groups:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> builtins.list[Group]:
        with self.db.read("list groups") as conn:
            return [Group(r.name, r.description)
                    for r in conn.execute(select(groups).order_by(groups.c.name))]

    def create(self, name: str, description: str = "", actor: str = "system") -> Group:
        with self.db.change(f"create group {name!r}", actor, "group.create", name) as ch:
            if ch.conn.execute(select(groups.c.name).where(groups.c.name == name)).first():
                raise Conflict(f"group {name!r} already exists")
            ch.conn.execute(insert(groups).values(name=name, description=description))
        return Group(name, description)

    def add_member(self, name: str, uid: str, actor: str = "system") -> None:
        with self.db.change(f"add {uid!r} to group {name!r}", actor, "group.add", name) as ch:
            if ch.conn.execute(select(groups.c.name).where(groups.c.name == name)).first() is None:
                raise NotFound(f"group {name!r} does not exist")
            if ch.conn.execute(select(users.c.id).where(users.c.id == uid)).first() is None:
                raise NotFound(f"user {uid!r} does not exist")
            if ch.conn.execute(select(memberships).where(
                    (memberships.c.group_name == name) & (memberships.c.user_id == uid))).first():
                return
            ch.conn.execute(insert(memberships).values(group_name=name, user_id=uid))
            ch.details = {"user_id": uid}

    def remove_member(self, name: str, uid: str, actor: str = "system") -> None:
        with self.db.change(f"remove {uid!r} from {name!r}", actor, "group.remove", name) as ch:
            ch.conn.execute(delete(memberships).where(
                (memberships.c.group_name == name) & (memberships.c.user_id == uid)))
            ch.details = {"user_id": uid}

    def members(self, name: str) -> builtins.list[str]:
        with self.db.read(f"list members of {name!r}") as conn:
            return list(conn.execute(select(memberships.c.user_id).where(
                memberships.c.group_name == name).order_by(memberships.c.user_id)).scalars())

    def of_user(self, uid: str) -> builtins.list[str]:
        with self.db.read(f"list groups of {uid!r}") as conn:
            return list(conn.execute(select(memberships.c.group_name).where(
                memberships.c.user_id == uid).order_by(memberships.c.group_name)).scalars())

    def delete(self, name: str, actor: str = "system") -> None:
        with self.db.change(f"delete group {name!r}", actor, "group.delete", name) as ch:
            ch.conn.execute(delete(memberships).where(memberships.c.group_name == name))
            if ch.conn.execute(delete(groups).where(groups.c.name == name)).rowcount == 0:
                raise NotFound(f"group {name!r} does not exist")

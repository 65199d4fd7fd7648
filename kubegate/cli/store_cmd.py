"""`kubegate products ...`, `kubegate subscriptions ...` and `kubegate migrate`.

Each command opens the store named by `--store` (default: $KUBEGATE_STORE, else
sqlite:///kubegate.db), migrating it when needed, and prints text or `--json`.
Keys are printed only by `subscriptions create` and `subscriptions regenerate-key`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from kubegate.store import DEFAULT_URL, IssuedKeys, Store, StoreError
from kubegate.store import migrate as run_migrate
from kubegate.store.engine import redact
from kubegate.store.records import jsonable

F = TypeVar("F", bound=Callable[..., Any])
STATES = ("submitted", "active", "suspended", "cancelled", "expired")


def _options(f: F) -> F:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
    return click.option("--store", "store_url", envvar="KUBEGATE_STORE", default=DEFAULT_URL,
                        show_default=True, metavar="URL",
                        help="sqlite:///FILE or postgresql://... (env KUBEGATE_STORE)")(f)


def _actor() -> str:
    return "cli:" + (os.environ.get("USER") or os.environ.get("USERNAME") or "unknown")


@contextmanager
def _open(url: str) -> Iterator[Store]:
    try:
        with Store(url) as store:
            yield store
    except StoreError as e:
        raise click.ClickException(str(e)) from e


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else text)


def _table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, *rows])


def _keys_out(as_json: bool, issued: IssuedKeys, verb: str) -> None:
    sub = issued.subscription
    data = {"subscription": jsonable(sub), "primary_key": issued.primary_key,
            "secondary_key": issued.secondary_key}
    lines = [f"{verb} subscription {sub.id} ({sub.name}, {sub.scope}, {sub.state})"]
    if issued.primary_key:
        lines.append(f"primary key:   {issued.primary_key}")
    if issued.secondary_key:
        lines.append(f"secondary key: {issued.secondary_key}")
    lines.append("Keys are shown only now; the store keeps their hashes.")
    _emit(as_json, data, "\n".join(lines))


@click.command("migrate")
@click.option("--store", "store_url", envvar="KUBEGATE_STORE", default=DEFAULT_URL,
              show_default=True, metavar="URL", help="sqlite:///FILE or postgresql://...")
def migrate(store_url: str) -> None:
    """Create or upgrade the store's schema to this version's newest."""
    try:
        before, after = run_migrate(store_url)
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    where = redact(store_url)
    click.echo(f"{where}: already at {after}" if before == after
               else f"{where}: migrated {before or 'empty'} -> {after}")


@click.group()
def products() -> None:
    """Products: bundles of APIs that subscriptions are for."""


@products.command("list")
@_options
def products_list(store_url: str, as_json: bool) -> None:
    with _open(store_url) as store:
        items = store.products.list()
    _emit(as_json, [jsonable(p) for p in items], _table(
        [[p.name, p.display_name, "yes" if p.subscription_required else "no (open)",
          "yes" if p.approval_required else "no", ",".join(p.apis)] for p in items],
        ["NAME", "DISPLAY NAME", "SUBSCRIPTION", "APPROVAL", "APIS"]))


@products.command("create")
@click.argument("name")
@click.option("--display-name", help="Defaults to NAME.")
@click.option("--description", default="")
@click.option("--api", "apis", multiple=True, help="API name; repeat for several.")
@click.option("--open", "is_open", is_flag=True, help="No subscription required.")
@click.option("--approval-required", is_flag=True, help="New subscriptions start 'submitted'.")
@_options
def products_create(name: str, display_name: str | None, description: str, apis: tuple[str, ...],
                    is_open: bool, approval_required: bool, store_url: str, as_json: bool) -> None:
    with _open(store_url) as store:
        p = store.products.create(name, display_name=display_name, description=description,
                                  subscription_required=not is_open,
                                  approval_required=approval_required, apis=apis, actor=_actor())
    _emit(as_json, jsonable(p), f"created product {p.name} (APIs: {', '.join(p.apis) or 'none'})")


@products.command("delete")
@click.argument("name")
@click.option("--delete-subscriptions", is_flag=True, help="Also delete its subscriptions.")
@_options
def products_delete(name: str, delete_subscriptions: bool, store_url: str, as_json: bool) -> None:
    with _open(store_url) as store:
        n = store.products.delete(name, delete_subscriptions=delete_subscriptions, actor=_actor())
    _emit(as_json, {"deleted": name, "subscriptions_deleted": n},
          f"deleted product {name}" + (f" and {n} subscription(s)" if n else ""))


@click.group()
def subscriptions() -> None:
    """Subscriptions: named key pairs scoped to a product, an API, or all APIs."""


@subscriptions.command("list")
@click.option("--scope", help="product:<name>, api:<name> or all")
@click.option("--state", type=click.Choice(STATES))
@_options
def subscriptions_list(scope: str | None, state: str | None, store_url: str,
                       as_json: bool) -> None:
    with _open(store_url) as store:
        items = store.subscriptions.list(scope=scope, state=state)
    _emit(as_json, [jsonable(s) for s in items], _table(
        [[s.id, s.name, s.scope, s.state, s.owner_id or "-",
          s.expires.isoformat() if s.expires else "-"] for s in items],
        ["ID", "NAME", "SCOPE", "STATE", "OWNER", "EXPIRES"]))


def _parse_expires(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"not an ISO 8601 date/time: {value!r}") from e
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@subscriptions.command("create")
@click.argument("name")
@click.option("--scope", required=True, help="product:<name>, api:<name> or all")
@click.option("--id", "sid", help="Subscription id (default: random).")
@click.option("--owner", help="Owner user id.")
@click.option("--expires", help="ISO 8601, e.g. 2027-01-31 or 2027-01-31T12:00:00+00:00")
@click.option("--state", type=click.Choice(STATES),
              help="Default: active, or submitted if the product requires approval.")
@click.option("--allow-tracing", is_flag=True)
@_options
def subscriptions_create(name: str, scope: str, sid: str | None, owner: str | None,
                         expires: str | None, state: str | None, allow_tracing: bool,
                         store_url: str, as_json: bool) -> None:
    when = _parse_expires(expires)
    with _open(store_url) as store:
        if scope.startswith("product:") and scope[8:] not in {p.name for p in
                                                             store.products.list()}:
            click.echo(f"warning: product {scope[8:]!r} is not in the store "
                       "(fine if it is declared in the YAML config)", err=True)
        issued = store.subscriptions.create(name, scope, sid=sid, owner_id=owner, state=state,
                                            expires=when, allow_tracing=allow_tracing,
                                            actor=_actor())
    _keys_out(as_json, issued, "created")


def _state_command(name: str, state: str, help_text: str) -> None:
    @subscriptions.command(name, help=help_text)
    @click.argument("sid", metavar="ID")
    @_options
    def command(sid: str, store_url: str, as_json: bool) -> None:
        with _open(store_url) as store:
            sub = store.subscriptions.set_state(sid, state, actor=_actor())
        _emit(as_json, jsonable(sub), f"subscription {sub.id} is {sub.state}")


_state_command("suspend", "suspended", "Suspend: its keys get 403 until activated.")
_state_command("activate", "active", "Activate (or approve) a subscription.")
_state_command("cancel", "cancelled", "Cancel for good: its keys stop working.")


@subscriptions.command("regenerate-key")
@click.argument("sid", metavar="ID")
@click.option("--key", "which", type=click.Choice(["primary", "secondary"]), default="primary",
              show_default=True, help="Which key; the other keeps working.")
@_options
def subscriptions_regenerate(sid: str, which: str, store_url: str, as_json: bool) -> None:
    with _open(store_url) as store:
        issued = store.subscriptions.regenerate_key(sid, which, actor=_actor())  # type: ignore[arg-type]
    _keys_out(as_json, issued, f"regenerated the {which} key of")


@subscriptions.command("delete")
@click.argument("sid", metavar="ID")
@_options
def subscriptions_delete(sid: str, store_url: str, as_json: bool) -> None:
    with _open(store_url) as store:
        store.subscriptions.delete(sid, actor=_actor())
    _emit(as_json, {"deleted": sid}, f"deleted subscription {sid}")

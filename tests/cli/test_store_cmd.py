"""`kubegate products|subscriptions|migrate` through click's CliRunner, on a real store."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from kubegate.cli.store_cmd import migrate, products, subscriptions
from kubegate.services.keys import KeyIndex
from kubegate.store import Store

PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/kg.db"


def run(command: click.Command, *args: str, url: str | None = None) -> Result:
    extra = ["--store", url] if url else []
    return CliRunner().invoke(command, [*args, *extra], catch_exceptions=False)


def test_exports_are_click_commands() -> None:
    assert isinstance(products, click.Group) and isinstance(subscriptions, click.Group)
    assert isinstance(migrate, click.Command)
    assert {"list", "create", "delete"} <= set(products.commands)
    assert {"list", "create", "suspend", "activate", "cancel", "regenerate-key",
            "delete"} <= set(subscriptions.commands)


def test_migrate_reports_what_it_did(url: str) -> None:
    first = run(migrate, url=url)
    assert first.exit_code == 0 and "migrated empty -> 0001" in first.output
    again = run(migrate, url=url)
    assert again.exit_code == 0 and "already at 0001" in again.output


def test_product_and_subscription_lifecycle(url: str) -> None:
    out = run(products, "create", "starter", "--api", "echo", "--api", "pets",
              "--display-name", "Starter", url=url)
    assert out.exit_code == 0 and "created product starter (APIs: echo, pets)" in out.output
    listed = json.loads(run(products, "list", "--json", url=url).output)
    assert [(p["name"], p["apis"], p["subscription_required"]) for p in listed] == [
        ("starter", ["echo", "pets"], True)]
    assert "Starter" in run(products, "list", url=url).output

    created = run(subscriptions, "create", "alice", "--scope", "product:starter", "--id", "al",
                  "--expires", "2027-01-31", url=url)
    assert created.exit_code == 0, created.output
    keys = dict(re.findall(r"(primary|secondary) key:\s+([0-9a-f]{32})", created.output))
    assert set(keys) == {"primary", "secondary"}

    with Store(url) as store:
        index = KeyIndex(store)
        index.load()
        info = index.lookup(keys["primary"])
        assert info is not None and info.id == "al" and index.allows(info, "pets")
        assert info.expires is not None and info.expires.isoformat() == "2027-01-31T00:00:00+00:00"

    table = run(subscriptions, "list", url=url).output
    assert re.search(r"al\s+alice\s+product:starter\s+active", table)
    assert keys["primary"] not in table  # keys are shown only on creation

    assert "is suspended" in run(subscriptions, "suspend", "al", url=url).output
    listed = json.loads(run(subscriptions, "list", "--state", "suspended", "--json",
                            url=url).output)
    assert [s["id"] for s in listed] == ["al"]
    assert "is active" in run(subscriptions, "activate", "al", url=url).output

    regen = json.loads(run(subscriptions, "regenerate-key", "al", "--key", "secondary", "--json",
                           url=url).output)
    assert regen["primary_key"] is None and re.fullmatch(r"[0-9a-f]{32}", regen["secondary_key"])
    with Store(url) as store:
        index = KeyIndex(store)
        index.load()
        assert index.lookup(keys["secondary"]) is None
        assert index.lookup(regen["secondary_key"]) is not None
        assert index.lookup(keys["primary"]) is not None
        assert store.audit(limit=1)[0].actor.startswith("cli:")

    refused = CliRunner().invoke(products, ["delete", "starter", "--store", url])
    assert refused.exit_code == 1 and "has 1 subscription(s)" in refused.output
    gone = run(products, "delete", "starter", "--delete-subscriptions", url=url)
    assert "deleted product starter and 1 subscription(s)" in gone.output
    assert json.loads(run(subscriptions, "list", "--json", url=url).output) == []


def test_errors_are_clear_and_exit_1(url: str) -> None:
    runner = CliRunner()
    for args, message in [
        (["suspend", "ghost"], "subscription 'ghost' does not exist"),
        (["create", "x", "--scope", "prod:x"], "invalid scope 'prod:x'"),
        (["delete", "ghost"], "subscription 'ghost' does not exist"),
    ]:
        result = runner.invoke(subscriptions, [*args, "--store", url])
        assert result.exit_code == 1 and message in result.output, result.output
    bad_date = runner.invoke(subscriptions, ["create", "x", "--scope", "all", "--expires",
                                             "soon", "--store", url])
    assert bad_date.exit_code == 2 and "not an ISO 8601" in bad_date.output
    run(subscriptions, "create", "c", "--scope", "all", "--id", "c1", url=url)
    run(subscriptions, "cancel", "c1", url=url)
    again = runner.invoke(subscriptions, ["activate", "c1", "--store", url])
    assert again.exit_code == 1 and "is cancelled; it cannot become active" in again.output
    down = runner.invoke(subscriptions, ["list", "--store",
                                         "postgresql://postgres@127.0.0.1:1/none"])
    assert down.exit_code == 1 and "is unavailable" in down.output


def test_store_url_from_the_environment(url: str) -> None:
    result = CliRunner(env={"KUBEGATE_STORE": url}).invoke(
        products, ["create", "envprod", "--open"])
    assert result.exit_code == 0
    with Store(url) as store:
        assert store.products.get("envprod").subscription_required is False


def test_approval_products_create_submitted_subscriptions(url: str) -> None:
    run(products, "create", "gold", "--approval-required", url=url)
    out = json.loads(run(subscriptions, "create", "b", "--scope", "product:gold", "--json",
                         url=url).output)
    assert out["subscription"]["state"] == "submitted"
    warned = CliRunner().invoke(subscriptions, ["create", "x", "--scope", "product:yaml-only",
                                                "--store", url])
    assert warned.exit_code == 0 and "not in the store" in warned.output


@pytest.fixture
def pg_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at {PG} is not reachable: {e}")
    schema = f"kg_cli_{os.getpid()}_{secrets.token_hex(4)}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def test_against_postgresql(pg_url: str) -> None:
    assert "migrated empty" in run(migrate, url=pg_url).output
    created = json.loads(run(subscriptions, "create", "p", "--scope", "api:echo", "--json",
                             url=pg_url).output)
    with Store(pg_url) as store:
        index = KeyIndex(store)
        index.load()
        info = index.lookup(created["primary_key"])
        assert info is not None and info.api == "echo"

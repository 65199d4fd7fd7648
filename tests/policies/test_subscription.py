"""Subscription-key admission (SubscriptionGate) and its compilation (PolicyLoader):
every APIM rule with a fake key index and a fake backend."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubegate.compile.policies import PolicyLoader
from kubegate.model.config import Config
from kubegate.policies.key_guard import KeyGuard
from kubegate.policies.pipeline import Pipeline
from kubegate.policies.subscription import (
    INVALID_KEY,
    MISSING_KEY,
    SubscriptionGate,
)
from kubegate.services.counters import MemoryCounterStore
from kubegate.services.keys import ProductInfo, SubscriptionInfo

from .helpers import FakeBackend, doc, execute, make_ctx, pipeline

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

NOW = datetime.fromtimestamp(1_700_000_000, UTC)  # make_ctx's clock


def sub(sid: str, scope: str, *, state: str = "active", which: str = "primary",
        expires: datetime | None = None, user: str | None = None) -> SubscriptionInfo:
    kind, _, target = scope.partition(":")
    return SubscriptionInfo(sid, f"name-{sid}", scope, state,
                            target if kind == "product" else None,
                            target if kind == "api" else None, user, expires,
                            which, "h-" + sid)  # type: ignore[arg-type]


@dataclass
class FakeKeys:
    keys: dict[str, SubscriptionInfo] = field(default_factory=dict)
    products: dict[str, ProductInfo] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    generation: object = field(default_factory=object)

    def lookup(self, key: str) -> SubscriptionInfo | None:
        self.lookups.append(key)
        return self.keys.get(key)

    def product(self, name: str) -> ProductInfo | None:
        return self.products.get(name)

    def allows(self, info: SubscriptionInfo, api: str) -> bool:
        if info.scope == "all":
            return True
        if info.api is not None:
            return info.api == api
        product = self.products.get(info.product or "")
        return product is not None and api in product.apis


def keys() -> FakeKeys:
    return FakeKeys(
        keys={"k-gold": sub("s1", "product:gold", user="u1"),
              "k-gold2": sub("s1", "product:gold", which="secondary"),
              "k-api": sub("s2", "api:orders"),
              "k-other-api": sub("s3", "api:billing"),
              "k-all": sub("s4", "all"),
              "k-susp": sub("s5", "product:gold", state="suspended"),
              "k-canc": sub("s6", "all", state="cancelled"),
              "k-old": sub("s7", "all", expires=datetime(2020, 1, 1, tzinfo=UTC)),
              "k-silver": sub("s8", "product:silver")},
        products={"gold": ProductInfo("gold", True, False, frozenset({"orders"})),
                  "silver": ProductInfo("silver", True, True, frozenset({"billing"})),
                  "free": ProductInfo("free", False, False, frozenset({"orders"}))})


MARK = '<set-header name="X-Scope" exists-action="append"><value>{}</value></set-header>'


def marked(name: str) -> Pipeline:
    return pipeline(doc(inbound=MARK.format(name)))


def gate(required: bool = True, open_product: str | None = None, **kw: Any) -> SubscriptionGate:
    products = {"gold": marked("gold"), "free": marked("free")}
    return SubscriptionGate("orders", kw.pop("index", None) or keys(), marked("base"),
                            required=required, products=products, open_product=open_product,
                            **kw)


async def call(g: SubscriptionGate, headers: list[tuple[str, str]] | None = None,
               query: str = "") -> tuple[Any, FakeBackend]:
    ctx = make_ctx(headers=headers, query=query)
    backend = FakeBackend()
    await execute(g, ctx, backend)
    return ctx, backend


def body(ctx: Any) -> Any:
    return json.loads(ctx.Response.Body.content)


def sent_header(backend: FakeBackend, name: str) -> list[str]:
    return [v for k, v in backend.calls[0]["headers"] if k.lower() == name.lower()]


KEY = "Ocp-Apim-Subscription-Key"


# -- no key ------------------------------------------------------------------------
async def test_missing_key_is_401_with_apims_message() -> None:
    ctx, backend = await call(gate())
    assert ctx.Response.StatusCode == 401
    assert body(ctx) == {"statusCode": 401, "message": MISSING_KEY}
    assert backend.calls == []
    assert (ctx.LastError.Source, ctx.LastError.Reason) == ("authorization",
                                                          "SubscriptionKeyNotFound")


async def test_no_key_on_api_not_requiring_subscription_passes_without_product() -> None:
    ctx, backend = await call(gate(required=False))
    assert ctx.Response.StatusCode == 200
    assert sent_header(backend, "X-Scope") == ["base"]
    assert ctx.Subscription is None and ctx.Product is None


async def test_open_product_admits_without_key_and_runs_its_pipeline() -> None:
    ctx, backend = await call(gate(open_product="free"))
    assert ctx.Response.StatusCode == 200
    assert sent_header(backend, "X-Scope") == ["free"]
    assert (ctx.Product.Name, ctx.Product.SubscriptionRequired) == ("free", False)
    assert ctx.Subscription is None


@pytest.mark.parametrize("key", ["nope", "k-other-api", "k-susp"])
async def test_open_product_ignores_a_bad_key(key: str) -> None:
    ctx, backend = await call(gate(open_product="free"), [(KEY, key)])
    assert ctx.Response.StatusCode == 200
    assert sent_header(backend, "X-Scope") == ["free"] and ctx.Subscription is None
    assert sent_header(backend, KEY) == []


# -- bad keys ------------------------------------------------------------------------
@pytest.mark.parametrize("required", [True, False])
async def test_unknown_key_is_401_invalid(required: bool) -> None:
    ctx, backend = await call(gate(required=required), [(KEY, "nope")])
    assert ctx.Response.StatusCode == 401
    assert body(ctx) == {"statusCode": 401, "message": INVALID_KEY}
    assert ctx.LastError.Reason == "SubscriptionKeyInvalid" and backend.calls == []


@pytest.mark.parametrize("key", ["k-other-api", "k-silver"])
async def test_key_whose_scope_does_not_cover_the_api_is_401_invalid(key: str) -> None:
    ctx, _ = await call(gate(), [(KEY, key)])
    assert (ctx.Response.StatusCode, body(ctx)["message"]) == (401, INVALID_KEY)


async def test_invalid_keys_past_the_guards_limit_are_429_while_valid_keys_pass() -> None:
    clock = iter(range(1000, 2000)).__next__
    guard = KeyGuard(MemoryCounterStore(clock=lambda: 1000.0), limit=2, period=60,
                     clock=lambda: 1000.0)
    g = gate(guard=guard)
    statuses = [(await call(g, [(KEY, f"wrong-{clock()}")]))[0].Response.StatusCode
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    ctx, backend = await call(g, [(KEY, "wrong-again")])  # blocked: refused without counting
    assert ctx.Response.StatusCode == 429 and backend.calls == []
    assert ctx.LastError.Reason == "SubscriptionKeyThrottled"
    assert ctx.Response.Headers.get("Retry-After") == "60"
    assert body(ctx)["message"] == "Too many invalid subscription keys. Try again in 60 seconds."
    ctx, backend = await call(g, [(KEY, "k-all")])
    assert ctx.Response.StatusCode == 200 and len(backend.calls) == 1


@pytest.mark.parametrize(("key", "state"), [("k-susp", "suspended"), ("k-canc", "cancelled"),
                                            ("k-old", "expired")])
async def test_inactive_subscription_is_403(key: str, state: str) -> None:
    ctx, backend = await call(gate(), [(KEY, key)])
    assert ctx.Response.StatusCode == 403 and backend.calls == []
    assert body(ctx)["statusCode"] == 403 and state in body(ctx)["message"]
    assert ctx.LastError.Reason == "SubscriptionNotActive"


async def test_expiry_uses_the_context_clock() -> None:
    index = keys()
    index.keys["k-later"] = sub("s9", "all", expires=NOW.replace(year=NOW.year + 1))
    index.keys["k-now"] = sub("s10", "all", expires=NOW)
    ok, _ = await call(gate(index=index), [(KEY, "k-later")])
    late, _ = await call(gate(index=index), [(KEY, "k-now")])
    assert (ok.Response.StatusCode, late.Response.StatusCode) == (200, 403)


async def test_refusal_runs_the_on_error_section() -> None:
    base = pipeline(doc(on_error='<set-header name="X-Err" exists-action="override"><value>'
                                 '@(context.LastError.Reason)</value></set-header>'))
    g = SubscriptionGate("orders", keys(), base, required=True)
    ctx, _ = await call(g)
    assert ctx.Response.StatusCode == 401
    assert ctx.Response.Headers.get("X-Err") == "SubscriptionKeyNotFound"


# -- good keys -----------------------------------------------------------------------
async def test_product_key_runs_the_products_pipeline_and_sets_context() -> None:
    ctx, backend = await call(gate(), [(KEY, "k-gold")])
    assert ctx.Response.StatusCode == 200
    assert sent_header(backend, "X-Scope") == ["gold"]
    s = ctx.Subscription
    assert (s.Id, s.Name, s.Key, s.PrimaryKey, s.SecondaryKey) == (
        "s1", "name-s1", "k-gold", "k-gold", None)
    assert (ctx.Product.Id, ctx.Product.ApprovalRequired) == ("gold", False)
    assert ctx.User.Id == "u1"


async def test_secondary_key_is_reported_as_secondary() -> None:
    ctx, _ = await call(gate(), [(KEY, "k-gold2")])
    assert (ctx.Subscription.PrimaryKey, ctx.Subscription.SecondaryKey) == (None, "k-gold2")
    assert ctx.User is None


@pytest.mark.parametrize("key", ["k-api", "k-all"])
async def test_api_and_all_scoped_keys_skip_product_policies(key: str) -> None:
    ctx, backend = await call(gate(), [(KEY, key)])
    assert ctx.Response.StatusCode == 200
    assert sent_header(backend, "X-Scope") == ["base"]
    assert ctx.Product is None and ctx.Subscription.Key == key


async def test_key_in_query_is_used_and_removed() -> None:
    ctx, backend = await call(gate(), query="a=1&subscription-key=k-gold&b=2")
    assert ctx.Response.StatusCode == 200
    assert backend.calls[0]["query"] == "?a=1&b=2"
    assert ctx.Request.OriginalUrl.Query.GetValueOrDefault("subscription-key") == "k-gold"


async def test_header_wins_over_query_and_both_are_stripped() -> None:
    index = keys()
    ctx, backend = await call(gate(index=index), [(KEY.lower(), "k-api")],
                              query="subscription-key=nope")
    assert ctx.Response.StatusCode == 200 and index.lookups == ["k-api"]
    assert sent_header(backend, KEY) == [] and backend.calls[0]["query"] == ""


async def test_empty_header_falls_back_to_query() -> None:
    ctx, _ = await call(gate(), [(KEY, "")], query="subscription-key=k-all")
    assert ctx.Subscription.Id == "s4"


async def test_key_names_are_configurable() -> None:
    g = gate(header="X-Api-Key", query="apikey")
    ctx, backend = await call(g, [("X-Api-Key", "k-all")])
    assert ctx.Response.StatusCode == 200 and sent_header(backend, "X-Api-Key") == []
    ctx, backend = await call(g, query="apikey=k-all&x=1")
    assert ctx.Response.StatusCode == 200 and backend.calls[0]["query"] == "?x=1"
    ctx, _ = await call(g, [(KEY, "k-all")])  # the default name is not looked at
    assert ctx.Response.StatusCode == 401 and body(ctx)["message"] == MISSING_KEY


async def test_key_on_api_not_requiring_subscription_sets_subscription() -> None:
    ctx, backend = await call(gate(required=False), [(KEY, "k-gold")])
    assert ctx.Response.StatusCode == 200 and ctx.Subscription.Id == "s1"
    assert sent_header(backend, "X-Scope") == ["gold"]


async def test_body_needs_are_the_union_of_the_pipelines() -> None:
    plain = marked("x")
    reading = pipeline(doc(inbound='<set-variable name="b" value="@(context.Request.Body'
                                   '.As&lt;string&gt;())" />'))
    assert reading.needs_request_body and not plain.needs_request_body
    assert not SubscriptionGate("orders", keys(), plain, required=True).needs_request_body
    assert SubscriptionGate("orders", keys(), plain, required=True,
                            products={"gold": reading}).needs_request_body


# -- compilation -----------------------------------------------------------------------
def loader(data: dict[str, Any], index: FakeKeys | None = None) -> PolicyLoader:
    config = Config.model_validate(data)
    return PolicyLoader(config, Path("."), {"keys": index or keys()})


def api(name: str = "orders", **kw: Any) -> dict[str, Any]:
    return {"name": name, "path": "/" + name, "backend": "http://127.0.0.1:9", **kw}


def target(data: dict[str, Any], index: FakeKeys | None = None) -> Any:
    pl = loader(data, index)
    config = pl.config
    result = pl.pipeline(config.apis[0], 0, None, 0, "*")
    assert pl.problems == []
    return result


def test_api_without_subscription_or_policy_keeps_the_fast_path() -> None:
    assert target({"apis": [api()]}) is None
    assert target({"apis": [api()], "products": [{"name": "p", "apis": ["other"]}]}) is None


def test_subscription_required_api_gets_a_gate() -> None:
    g = target({"apis": [api(subscription_required=True)]})
    assert isinstance(g, SubscriptionGate) and g.required and g.open_product is None
    assert (g.header, g.query) == ("Ocp-Apim-Subscription-Key", "subscription-key")


def test_protected_product_makes_the_api_require_a_key() -> None:
    g = target({"apis": [api()], "products": [{"name": "gold", "apis": ["orders"]}]})
    assert isinstance(g, SubscriptionGate) and g.required and g.products == {}


def test_open_product_is_recorded() -> None:
    g = target({"apis": [api(subscription_required=True)],
                "products": [{"name": "free", "apis": ["orders"], "subscription_required": False}]})
    assert isinstance(g, SubscriptionGate) and g.open_product == "free"


def test_policy_only_api_gets_an_optional_gate() -> None:
    g = target({"apis": [api(policy="<policies><inbound><base/></inbound></policies>")]})
    assert isinstance(g, SubscriptionGate) and not g.required


def test_describe_names_the_settings_and_product_pipelines() -> None:
    d = gate(open_product="free", header="X-K").describe()
    assert d["subscription"] == {"required": True, "header": "X-K",
                                 "query": "subscription-key", "open_product": "free"}
    assert set(d["products"]) == {"gold", "free"} and len(d["inbound"]) == 1


def test_per_api_key_names_reach_the_gate() -> None:
    g = target({"apis": [api(subscription_required=True, subscription_key_header="X-Key",
                             subscription_key_query="k")]})
    assert (g.header, g.query) == ("X-Key", "k")


async def test_product_pipelines_are_merged_global_product_api() -> None:
    mark = '<policies><inbound>{}<base/>' + MARK + '</inbound></policies>'
    data = {"policy": mark.format("", "global"),
            "apis": [api(policy=mark.format("", "api"))],
            "products": [{"name": "gold", "apis": ["orders"], "policy": mark.format("", "gold")},
                         {"name": "plain", "apis": ["orders"]}]}
    g = target(data)
    assert isinstance(g, SubscriptionGate) and set(g.products) == {"gold"}
    ctx, backend = await call(g, [(KEY, "k-gold")])
    assert sent_header(backend, "X-Scope") == ["global", "gold", "api"]
    ctx, backend = await call(g, [(KEY, "k-all")])
    assert sent_header(backend, "X-Scope") == ["global", "api"]


def test_two_open_products_for_one_api_is_a_problem() -> None:
    pl = loader({"apis": [api()], "products": [
        {"name": "a", "apis": ["orders"], "subscription_required": False},
        {"name": "b", "apis": ["orders"], "subscription_required": False}]})
    pl.pipeline(pl.config.apis[0], 0, None, 0, "*")
    pl.pipeline(pl.config.apis[0], 0, None, 0, "*")
    assert len(pl.problems) == 1 and "more than one open product" in pl.problems[0].message


def test_bad_product_policy_is_reported() -> None:
    pl = loader({"apis": [api()], "products": [
        {"name": "gold", "apis": ["orders"], "policy": "<policies><inbound><nope/></inbound>"
                                                       "</policies>"}]})
    assert pl.pipeline(pl.config.apis[0], 0, None, 0, "*") is None
    assert pl.problems and "nope" in pl.problems[0].message


async def test_without_services_the_yaml_subscriptions_are_used() -> None:
    config = Config.model_validate({
        "apis": [api(subscription_required=True)],
        "subscriptions": [{"name": "ci", "scope": "api:orders", "primary_key": "yaml-key"}]})
    g = PolicyLoader(config, Path(".")).pipeline(config.apis[0], 0, None, 0, "*")
    assert isinstance(g, SubscriptionGate)
    ctx, _ = await call(g, [(KEY, "yaml-key")])
    assert ctx.Response.StatusCode == 200 and ctx.Subscription.Id == "static:ci"

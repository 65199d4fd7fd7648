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
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context_info import OperationInfo
from kubegate.policies.key_guard import KeyGuard
from kubegate.policies.pipeline import Pipeline
from kubegate.policies.subscription import (
    FULL_CHECK,
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



# -- admit_head: the decision on the raw head, for gates without policy steps ---------

IP = b"10.0.0.1"  # make_ctx's client address


def head(g: SubscriptionGate, headers: list[tuple[str, str]], query: str = "",
         ip: bytes = IP) -> Any:
    """What begin_exchange asks: admit_head with the key header's value (a key sent
    twice goes to the full check without asking)."""
    assert g.admit_head is not None
    sent = [v.encode() for n, v in headers if n.lower() == g.header.lower()]
    if len(sent) > 1:
        return FULL_CHECK
    return g.admit_head(sent[0] if sent else None, query.encode(), ip)

def bare_gate(required: bool = True, open_product: str | None = None) -> SubscriptionGate:
    empty = pipeline(doc())
    return SubscriptionGate("orders", keys(), empty, required=required,
                            products={"gold": pipeline(doc()), "free": pipeline(doc())},
                            open_product=open_product)


def test_admit_head_is_offered_only_when_no_pipeline_has_a_policy_step() -> None:
    assert bare_gate().admit_head is not None
    assert gate().admit_head is None  # every pipeline sets a header
    mixed = SubscriptionGate("orders", keys(), pipeline(doc()), required=True,
                             products={"gold": marked("gold")})
    assert mixed.admit_head is None


HEADS = [[], [(KEY, "k-gold")], [(KEY, "k-api")], [(KEY, "k-all")], [(KEY, "k-gold2")],
         [(KEY, "k-other-api")], [(KEY, "k-susp")], [(KEY, "k-canc")], [(KEY, "k-old")],
         [(KEY, "k-silver")], [(KEY, "nope")], [(KEY, "")], [(KEY, "k-all"), (KEY, "k-api")],
         [("ocp-apim-subscription-key", "k-all")], [("X-Other", "k-all")]]


@pytest.mark.parametrize("headers", HEADS, ids=lambda h: "+".join(v for _, v in h) or "none")
@pytest.mark.parametrize("query", ["", "subscription-key=k-all", "a=1"])
@pytest.mark.parametrize(("required", "open_product"), [(True, None), (False, None),
                                                        (True, "free")])
async def test_admit_head_agrees_with_the_full_check_whenever_it_decides(
        headers: list[tuple[str, str]], query: str, required: bool,
        open_product: str | None) -> None:
    g = bare_gate(required, open_product)
    decided = head(g, headers, query)
    ctx, backend = await call(g, headers, query)
    if decided is FULL_CHECK:
        return  # left to the full check
    assert backend.calls, "admit_head admitted what the full check refuses"
    assert getattr(ctx.Subscription, "Id", None) == decided
    assert sent_header(backend, KEY) == []


@pytest.mark.parametrize(("headers", "query"), [
    ([(KEY, "k-all")], ""), ([(KEY, "k-gold")], ""), ([(KEY, "k-api")], "a=1"), ([], "")])
def test_admit_head_decides_the_common_cases(headers: list[tuple[str, str]],
                                             query: str) -> None:
    assert head(bare_gate(required=bool(headers)), headers, query) is not FULL_CHECK


@pytest.mark.parametrize(("headers", "query"), [
    ([], ""), ([(KEY, "nope")], ""), ([(KEY, "k-susp")], ""), ([(KEY, "k-old")], ""),
    ([(KEY, "k-other-api")], ""), ([(KEY, "k-all"), (KEY, "k-all")], ""),
    ([], "subscription-key=k-all")])
def test_admit_head_leaves_refusals_and_rare_cases_to_the_full_check(
        headers: list[tuple[str, str]], query: str) -> None:
    assert head(bare_gate(), headers, query) is FULL_CHECK


# -- admit_head with a head check: a rate limit counted before any context exists ----

def limited_gate(inbound: str, *, required: bool = True, store: Any = None,
                 operation: str | None = "get-order") -> SubscriptionGate:
    """A gate whose pipelines run `inbound` (a limit), compiled as for operation
    `operation` of API "orders" (None: compiled for no operation in particular)."""
    env = CompileEnv(services={"counters": store or MemoryCounterStore(clock=lambda: 1e9)},
                     api_id="orders", operation_id=operation)
    return SubscriptionGate("orders", keys(), pipeline(doc(inbound=inbound), env),
                            required=required,
                            products={"gold": pipeline(doc(inbound=inbound), env)})


async def full_check(g: SubscriptionGate, headers: list[tuple[str, str]]) -> int:
    """The status the full check gives, with the context the data plane builds."""
    ctx = make_ctx(headers=headers)
    ctx.Operation = OperationInfo(Id="get-order", Name="get-order", Method="GET")
    backend = FakeBackend()
    await execute(g, ctx, backend)
    return int(ctx.Response.StatusCode)


LIMITS = {
    "rate-limit": '<rate-limit calls="3" renewal-period="60" />',
    "by-ip": '<rate-limit-by-key calls="3" renewal-period="60" '
             'counter-key="@(context.Request.IpAddress)" />',
    "by-subscription": '<rate-limit-by-key calls="3" renewal-period="60" '
                       'counter-key="@( context.Subscription.Id )" />',
    "by-fixed-text": '<rate-limit-by-key calls="3" renewal-period="60" counter-key="all" />',
}


@pytest.mark.parametrize("policy", sorted(LIMITS))
@pytest.mark.parametrize("key", ["k-all", "k-gold"])  # base pipeline, product pipeline
async def test_head_check_and_full_check_count_on_one_counter(policy: str, key: str) -> None:
    """Head admissions and full-check admissions, interleaved, add up to the limit:
    the head check counts on the very counter the policy uses, and a head refusal
    counts nothing (the full check then refuses, 429)."""
    g = limited_gate(LIMITS[policy])
    assert g.admit_head is not None
    headers = [(KEY, key)]
    assert head(g, headers) is not FULL_CHECK
    assert await full_check(g, headers) == 200
    assert head(g, headers) is not FULL_CHECK
    assert head(g, headers) is FULL_CHECK  # the 4th: over
    assert head(g, headers) is FULL_CHECK  # ... still, and uncounted
    assert await full_check(g, headers) == 429


async def test_rate_limit_head_check_admits_requests_without_a_subscription() -> None:
    g = limited_gate(LIMITS["rate-limit"], required=False)
    for _ in range(5):  # APIM limits calls made with a key only
        assert head(g, []) is None


async def test_head_check_by_ip_counts_per_client_address() -> None:
    g = limited_gate(LIMITS["by-ip"], required=False)
    for _ in range(3):
        assert head(g, []) is None
    assert head(g, []) is FULL_CHECK
    assert head(g, [], ip=b"10.0.0.2") is None


async def test_head_check_by_subscription_leaves_keyless_requests_to_the_expression() -> None:
    g = limited_gate(LIMITS["by-subscription"], required=False)
    assert head(g, []) is FULL_CHECK


@pytest.mark.parametrize("inbound", [
    '<rate-limit calls="3" renewal-period="60" remaining-calls-header-name="X-Left" />',
    '<rate-limit calls="3" renewal-period="60"><api name="orders" calls="1" '
    'renewal-period="60" /></rate-limit>',
    '<rate-limit-by-key calls="3" renewal-period="60" '
    'counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;, &quot;&quot;))" />',
    '<rate-limit-by-key calls="3" renewal-period="60" counter-key="@(context.Request.IpAddress)" '
    'increment-condition="@(context.Request.Method == &quot;GET&quot;)" />',
    LIMITS["rate-limit"] + LIMITS["by-ip"],  # a second step could refuse what the first counted
    LIMITS["rate-limit"] + '<set-header name="X-A" exists-action="override"><value>1</value>'
                           '</set-header>',
])
def test_no_head_check_where_the_policy_needs_a_context(inbound: str) -> None:
    assert limited_gate(inbound).admit_head is None


def test_no_head_check_without_a_synchronous_store_or_an_operation() -> None:
    class Later(MemoryCounterStore):
        hit_rate_now = None  # type: ignore[assignment]  # answers only by awaiting
    assert limited_gate(LIMITS["rate-limit"], store=Later()).admit_head is None
    assert limited_gate(LIMITS["rate-limit"], operation=None).admit_head is None


def test_admit_head_remembers_a_key_only_for_one_generation_of_the_index() -> None:
    """A decided key is remembered (no second lookup); once the index is rebuilt (here:
    the subscription was suspended in the store) it is decided again."""
    from kubegate.services.keys import KeyIndex
    from tests.services.test_keys import Entry, FakeSource, h

    source = FakeSource(entries=[Entry("s3", "ops", "all", h("p3"), h("s3"))])
    index = KeyIndex(source)
    index.load()
    g = SubscriptionGate("orders", index, pipeline(doc()), required=True)
    looked_up: list[str] = []
    lookup = index.lookup
    index.lookup = lambda key: looked_up.append(key) or lookup(key)  # type: ignore[method-assign]
    assert head(g, [(KEY, "p3")]) == "s3"
    assert head(g, [(KEY, "p3")]) == "s3"
    assert looked_up == ["p3"]
    source.entries = [Entry("s3", "ops", "all", h("p3"), h("s3"), state="suspended")]
    source.counter = 2
    index.load()
    assert head(g, [(KEY, "p3")]) is FULL_CHECK
    assert looked_up == ["p3", "p3"]

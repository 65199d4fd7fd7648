"""SubscriptionGate.admit_head: the key decision on the raw request head, and the
head checks of the pipelines it chooses (a rate limit counted before any context
exists), against the full check of the same gate."""

from __future__ import annotations

from typing import Any

import pytest

from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context_info import OperationInfo
from kubegate.policies.subscription import FULL_CHECK, SubscriptionGate
from kubegate.services.counters import MemoryCounterStore

from .helpers import FakeBackend, doc, execute, make_ctx, pipeline
from .test_subscription import KEY, call, gate, keys, marked, sent_header

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)


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
    class Later:
        """A memory store that answers only by awaiting (no hit_rate_now, admit_now)."""

        def __init__(self) -> None:
            self.store = MemoryCounterStore()

        def __getattr__(self, name: str) -> Any:
            if name in ("hit_rate_now", "admit_now"):
                raise AttributeError(name)
            return getattr(self.store, name)
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

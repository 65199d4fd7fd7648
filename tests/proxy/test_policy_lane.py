"""The synchronous lane: a request without a body whose pipeline never waits in
inbound is decided while its head is parsed, and goes on as a plain Exchange."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import pytest

from kubegate.proxy.exchange import Exchange
from kubegate.proxy.held import HeldExchange
from kubegate.proxy.policy_exchange import PolicyExchange
from kubegate.services.counters.redis_store import RedisCounterStore
from tests.proxy.conftest import Rig, make_rig
from tests.proxy.test_policy_exchange import compiled_rig, installed_rig, policy_with, settle

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
GET = b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n\r\n"


def keyed_rig(policy: str | None = None) -> Rig:
    api: dict[str, Any] = {"name": "orders", "path": "/api", "backend": "http://10.9.9.9:9000/base",
                           "subscription_required": True,
                           "operations": [{"method": "GET", "path": "/items/{id}"},
                                          {"method": "POST", "path": "/items"}]}
    if policy is not None:
        api["policy"] = policy
    return make_rig(2, {"apis": [api], "subscriptions": [
        {"name": "s", "scope": "all", "primary_key": "k" * 32}]})


async def test_a_synchronous_pipeline_forwards_before_the_loop_turns() -> None:
    rig = compiled_rig(policy_with('<set-header name="X-In" exists-action="override">'
                                   '<value>1</value></set-header>'))
    rig.send(GET)
    assert type(rig.client.queue[0]) is Exchange  # no PolicyExchange, no task
    sent = rig.upstream_sent()
    assert sent.startswith(b"GET /base/items/1 HTTP/1.1") and b"X-In: 1" in sent
    rig.reply(OK)
    assert rig.ct.take().endswith(b"ok")


async def test_a_request_with_a_body_waits_for_it_on_the_policy_exchange() -> None:
    rig = compiled_rig(policy_with('<set-variable name="v" value="1" />'))
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n\r\nab")
    assert isinstance(rig.client.queue[0], PolicyExchange) and rig.upstream_sent() == b""


async def test_a_policy_answer_is_written_in_order_and_the_connection_goes_on() -> None:
    rig = compiled_rig(policy_with('<return-response><set-status code="418" reason="Tea" />'
                                   '<set-body>pot</set-body></return-response>'))
    rig.send(GET + GET)
    out = rig.ct.take()
    assert out.count(b"HTTP/1.1 418 ") == 2 and out.endswith(b"\r\n\r\npot")
    assert not rig.ct.closed and rig.upstream_sent() == b""


async def test_an_inbound_error_answers_with_its_response() -> None:
    rig = compiled_rig(policy_with(
        '<check-header name="X-Need" failed-check-httpcode="401" '
        'failed-check-error-message="X-Need is missing" ignore-case="true" />'))
    rig.send(GET)
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 401") and b"X-Need is missing" in out
    assert rig.upstream_sent() == b""


async def test_a_count_made_after_the_response_still_happens() -> None:
    """increment-condition reads the response: inbound wraps the backend callback, so
    the request leaves the lane for the policy exchange, which counts after the answer."""
    rig = compiled_rig(policy_with(
        '<rate-limit-by-key calls="1" renewal-period="60" counter-key="lane-deferred" '
        'increment-condition="@(context.Response.StatusCode == 200)" />'))
    rig.send(GET)
    assert isinstance(rig.client.queue[0], PolicyExchange)
    await settle()
    rig.upstream_sent()
    rig.reply(OK)
    await settle()
    assert rig.ct.take().endswith(b"ok")
    rig.send(GET)
    await settle()
    assert rig.ct.take().startswith(b"HTTP/1.1 429")


async def test_response_headers_a_policy_asks_for_are_added() -> None:
    rig = compiled_rig(policy_with(
        '<cors><allowed-origins><origin>https://app.example</origin></allowed-origins>'
        '</cors>'))
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example\r\n\r\n")
    await settle()
    assert rig.upstream_sent().startswith(b"GET /base/items/1")
    rig.reply(OK)
    await settle()
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 200") and b"Access-Control-Allow-Origin: https://app.example" in out


async def test_keys_are_checked_on_the_lane_and_never_forwarded() -> None:
    rig = keyed_rig()
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: "
             + b"k" * 32 + b"\r\nAccept: a/b\r\n\r\n")
    assert type(rig.client.queue[0]) is Exchange
    sent = rig.upstream_sent()
    assert b"Accept: a/b" in sent and b"subscription-key" not in sent.lower()
    rig.reply(OK)
    assert rig.ct.take().endswith(b"ok")
    for key in (b"", b"Ocp-Apim-Subscription-Key: wrong\r\n"):
        rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n" + key + b"\r\n")
        await settle()
        assert rig.ct.take().startswith(b"HTTP/1.1 401")
    assert rig.upstream_sent() == b""


KEYED = b"Ocp-Apim-Subscription-Key: " + b"k" * 32 + b"\r\n"


async def test_a_key_check_without_policies_forwards_like_a_plain_route() -> None:
    """No policy step behind the gate: the key is decided on the raw head, no context is
    built, the body streams as it arrives and the subscription is still counted."""
    rig = keyed_rig()
    rig.send(b"POST /api/items HTTP/1.1\r\nHost: gw\r\n" + KEYED
             + b"Content-Length: 10\r\n\r\nfirst")
    assert type(rig.client.queue[0]) is Exchange
    sent = rig.upstream_sent()
    assert sent.startswith(b"POST /base/items HTTP/1.1") and sent.endswith(b"\r\n\r\nfirst")
    assert b"subscription-key" not in sent.lower()
    rig.send(b"-half")
    assert rig.upstream_sent() == b"-half"
    rig.reply(OK)
    assert rig.ct.take().endswith(b"ok")
    subscriptions = {key[3] for key in rig.state.metrics.series}
    assert subscriptions == {"static:s"}, subscriptions  # a config subscription's id


async def test_a_key_in_the_query_still_takes_the_full_check() -> None:
    rig = keyed_rig()
    rig.send(b"GET /api/items/1?subscription-key=" + b"k" * 32 + b"&a=1 HTTP/1.1\r\n"
             b"Host: gw\r\n\r\n")
    await settle()
    sent = rig.upstream_sent()
    assert sent.startswith(b"GET /base/items/1?a=1 HTTP/1.1"), sent


async def test_a_traced_keyed_request_takes_the_policy_path() -> None:
    rig = keyed_rig()
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n" + KEYED
             + b"X-Kubegate-Trace: true\r\n\r\n")
    assert isinstance(rig.client.queue[0], PolicyExchange)
    await settle()
    assert b"subscription-key" not in rig.upstream_sent().lower()


async def test_a_key_sent_twice_takes_the_full_check_and_is_never_forwarded() -> None:
    rig = keyed_rig()
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n" + KEYED + KEYED + b"\r\n")
    await settle()
    sent = rig.upstream_sent()
    assert sent.startswith(b"GET /base/items/1") and b"subscription-key" not in sent.lower()


async def test_the_key_is_taken_out_where_connection_names_other_fields() -> None:
    rig = keyed_rig()
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Hop\r\n"
             b"X-Hop: 1\r\nX-Before: b\r\n" + KEYED + b"X-After: a\r\n\r\n")
    assert type(rig.client.queue[0]) is Exchange
    lines = rig.upstream_sent().split(b"\r\n")
    assert b"X-Before: b" in lines and b"X-After: a" in lines
    assert not any(b"subscription-key" in line.lower() or b"x-hop" in line.lower()
                   for line in lines)


async def test_a_key_field_on_an_api_without_a_key_check_is_forwarded_in_place() -> None:
    rig = make_rig(2, {"apis": [
        {"name": "orders", "path": "/api", "backend": "http://10.9.9.9:9000/base",
         "operations": [{"method": "GET", "path": "/items/{id}"}]},
        {"name": "keyed", "path": "/k", "backend": "http://10.9.9.9:9000/base",
         "subscription_required": True, "operations": [{"method": "GET", "path": "/x"}]}]})
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nA: 1\r\n" + KEYED + b"B: 2\r\n\r\n")
    sent = rig.upstream_sent()
    assert b"\r\nA: 1\r\n" + KEYED + b"B: 2\r\n" in sent


async def test_only_the_checked_key_field_is_taken_another_apis_stays_in_place() -> None:
    rig = make_rig(2, {"apis": [
        {"name": "orders", "path": "/api", "backend": "http://10.9.9.9:9000/base",
         "subscription_required": True, "operations": [{"method": "GET", "path": "/items/{id}"}]},
        {"name": "other", "path": "/o", "backend": "http://10.9.9.9:9000/base",
         "subscription_required": True, "subscription_key_header": "X-Other-Key",
         "operations": [{"method": "GET", "path": "/x"}]}],
        "subscriptions": [{"name": "s", "scope": "all", "primary_key": "k" * 32}]})
    for _ in range(2):  # the second time with the header names already seen
        rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nX-Other-Key: o\r\nA: 1\r\n"
                 + KEYED + b"B: 2\r\n\r\n")
        assert type(rig.client.queue[0]) is Exchange  # decided on the raw head
        sent = rig.upstream_sent()
        assert b"\r\nX-Other-Key: o\r\nA: 1\r\nB: 2\r\n" in sent, sent
        rig.reply(OK)
        assert rig.ct.take().endswith(b"ok")


async def test_a_key_header_the_gateway_reads_itself_is_left_to_the_full_check() -> None:
    rig = make_rig(2, {"apis": [{
        "name": "orders", "path": "/api", "backend": "http://10.9.9.9:9000/base",
        "subscription_required": True, "subscription_key_header": "X-Forwarded-Host",
        "operations": [{"method": "GET", "path": "/items/{id}"}]}],
        "subscriptions": [{"name": "s", "scope": "all", "primary_key": "k" * 32}]})
    assert rig.state.key_fields == frozenset()
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nX-Forwarded-Host: " + b"k" * 32
             + b"\r\n\r\n")
    await settle()
    assert rig.ct.take().startswith(b"HTTP/1.1 401")  # policies never see this field


async def test_a_limit_on_the_raw_head_forwards_plainly_and_refuses_through_the_policy() -> None:
    """key + rate-limit (its usual form): admitted requests go on as plain exchanges,
    counted; the one over the limit gets the policy's own 429."""
    rig = keyed_rig(policy_with('<rate-limit calls="2" renewal-period="60" />'))
    request = b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n" + KEYED + b"\r\n"
    for _ in range(2):
        rig.send(request)
        assert type(rig.client.queue[0]) is Exchange
        assert b"subscription-key" not in rig.upstream_sent().lower()
        rig.reply(OK)
        assert rig.ct.take().endswith(b"ok")
    rig.send(request)
    await settle()
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 429") and b"Retry-After: " in out
    assert b"Rate limit is exceeded" in out and rig.upstream_sent() == b""
    assert {key[3] for key in rig.state.metrics.series} == {"static:s"}
    assert rig.state.metrics.rejections == {("orders", "rate-limit"): 1}


async def test_a_quota_refusal_is_counted_as_a_limit_rejection() -> None:
    rig = keyed_rig(policy_with('<quota calls="1" renewal-period="3600" />'))
    request = b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n" + KEYED + b"\r\n"
    rig.send(request)
    await settle()
    rig.upstream_sent()
    rig.reply(OK)
    assert rig.ct.take().endswith(b"ok") and rig.state.metrics.rejections == {}
    rig.send(request)
    await settle()
    assert rig.ct.take().startswith(b"HTTP/1.1 403")
    assert rig.state.metrics.rejections == {("orders", "quota"): 1}


async def test_policy_requests_leave_no_reference_cycles() -> None:
    """The context and the exchange are freed by reference counting alone: the cyclic
    collector has nothing to find after a run of requests."""
    rig = keyed_rig(policy_with('<set-variable name="v" value="1" />'))
    request = (b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: "
               + b"k" * 32 + b"\r\n\r\n")
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            rig.send(request)
            rig.upstream_sent()
            rig.reply(OK)
            assert rig.ct.take().endswith(b"ok")
        assert gc.collect() == 0
    finally:
        gc.enable()


# -- a lane that waits (Redis counters): the request is decided when the answer comes ----
def redis_rig(store: Any, calls: int) -> Rig:
    """A limit whose counter key needs the context (no head check): the policy lane waits."""
    return compiled_rig(policy_with(
        f'<rate-limit-by-key calls="{calls}" renewal-period="60" '
        'counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;, '
        '&quot;anyone&quot;))" />'), services={"counters": store})


async def until(check: Any) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


async def test_pipelined_requests_waiting_on_counters_are_answered_in_order(
        redis_counters: Any) -> None:
    rig = redis_rig(redis_counters, calls=1)
    rig.send(GET + GET)
    first, second = rig.client.queue
    assert isinstance(first, PolicyExchange) and first.paused is not None
    await until(lambda: rig.upstreams[0][1].data)  # the first was admitted and forwarded
    assert rig.upstream_sent().startswith(b"GET /base/items/1")
    await asyncio.sleep(0.05)
    assert rig.ct.take() == b""  # the second's 429 waits for the first's response
    rig.reply(OK)
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 200") and out.count(b"HTTP/1.1 429") == 1
    assert out.index(b"HTTP/1.1 429") > out.index(b"ok")
    assert rig.upstream_sent() == b""


async def test_a_client_gone_while_counters_answer_gets_nothing_written(
        redis_counters: Any) -> None:
    rig = redis_rig(redis_counters, calls=5)
    rig.send(GET)
    pending = rig.client.queue[0]
    assert isinstance(pending, PolicyExchange) and pending.paused is not None
    rig.client.connection_lost(None)
    await asyncio.sleep(0.1)
    assert pending.paused is None and rig.upstream_sent() == b"" and rig.ct.take() == b""


# -- a head check that waits (Redis counters): a held plain exchange, no context ------
def held_rig(store: Any, policy: str, calls: int = 2) -> Rig:
    """Key + `policy` (a limit of `calls` per 60 s) on `store`."""
    return installed_rig({
        "apis": [{"name": "orders", "path": "/api", "backend": "http://10.9.9.9:9000/base",
                  "subscription_required": True,
                  "policy": policy_with(policy.format(calls=calls)),
                  "operations": [{"method": "GET", "path": "/items/{id}"},
                                 {"method": "POST", "path": "/items"}]}],
        "subscriptions": [{"name": "s", "scope": "all", "primary_key": "k" * 32}]},
        {"counters": store})


def held_request(rig: Rig) -> HeldExchange:
    """Send a keyed GET and return the exchange that waits for its verdict."""
    rig.send(KEYED_GET)
    held = rig.client.queue[0]
    assert type(held) is HeldExchange
    return held


RATE_LIMIT = '<rate-limit calls="{calls}" renewal-period="60" />'
BY_IP = ('<rate-limit-by-key calls="{calls}" renewal-period="60" '
         'counter-key="@(context.Request.IpAddress)" />')
KEYED_GET = b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n" + KEYED + b"\r\n"


def answer(out: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, body = out.partition(b"\r\n\r\n")
    status, *fields = head.split(b"\r\n")
    return status, {n.strip().lower(): v.strip() for n, _, v in
                    (f.partition(b":") for f in fields)}, body


@pytest.mark.parametrize("policy", [RATE_LIMIT, BY_IP])
async def test_a_waiting_limit_holds_a_plain_exchange_then_forwards_or_refuses(
        redis_counters: Any, policy: str) -> None:
    """key + limit on Redis: no context; each request waits for its verdict, goes on as
    a plain exchange (the key taken out), and the one over the limit gets the 429 the
    policy itself gives (compared with the memory store's, answered by the policy)."""
    rig = held_rig(redis_counters, policy)
    for _ in range(2):
        held_request(rig)
        assert rig.upstream_sent() == b""  # nothing before the verdict
        await until(lambda: rig.upstreams[0][1].data)
        sent = rig.upstream_sent()
        assert sent.startswith(b"GET /base/items/1") and b"subscription-key" not in sent.lower()
        rig.reply(OK)
        assert rig.ct.take().endswith(b"ok")
    rig.send(KEYED_GET)
    await until(lambda: rig.ct.data)
    status, fields, body = answer(rig.ct.take())
    assert rig.upstream_sent() == b""
    reference = keyed_rig(policy_with(policy.format(calls=0)))  # the policy's own refusal
    reference.send(KEYED_GET)
    await settle()
    expected = answer(reference.ct.take())
    assert (status, body) == (expected[0], expected[2])
    assert status.startswith(b"HTTP/1.1 429")
    assert fields.keys() == expected[1].keys() and fields[b"retry-after"] in (b"59", b"60")
    assert {key[3] for key in rig.state.metrics.series} == {"static:s"}
    assert rig.state.metrics.rejections == {("orders", "rate-limit"): 1}
    assert rig.client.transport is not None and not rig.ct.closed  # keep-alive goes on


async def test_held_exchanges_of_a_pipelined_run_answer_in_order(redis_counters: Any) -> None:
    rig = held_rig(redis_counters, RATE_LIMIT, calls=1)
    rig.send(KEYED_GET + KEYED_GET)
    await until(lambda: rig.upstreams[0][1].data)
    await asyncio.sleep(0.05)
    assert rig.ct.take() == b""  # the second's 429 waits for the first's response
    rig.reply(OK)
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 200") and out.index(b"HTTP/1.1 429") > out.index(b"ok")
    assert rig.upstream_sent().count(b"GET ") == 1


async def test_a_held_request_body_is_buffered_then_forwarded_or_discarded(
        redis_counters: Any) -> None:
    rig = held_rig(redis_counters, RATE_LIMIT, calls=1)
    post = b"POST /api/items HTTP/1.1\r\nHost: gw\r\n" + KEYED + b"Content-Length: 10\r\n\r\n"
    rig.send(post + b"first")
    await until(lambda: rig.upstreams[0][1].data)
    assert rig.upstream_sent().endswith(b"\r\n\r\nfirst")
    rig.send(b"-half")
    assert rig.upstream_sent() == b"-half"
    rig.reply(OK)
    assert rig.ct.take().endswith(b"ok")
    rig.send(post + b"12345")  # over the limit, its body not complete
    await until(lambda: rig.ct.data)
    assert rig.ct.take().startswith(b"HTTP/1.1 429") and rig.ct.closed
    assert rig.upstream_sent() == b""


async def test_a_client_gone_while_a_held_exchange_waits_gets_nothing(
        redis_counters: Any) -> None:
    rig = held_rig(redis_counters, RATE_LIMIT)
    held = held_request(rig)
    rig.client.connection_lost(None)
    await asyncio.sleep(0.1)
    assert not held.deciding and rig.upstream_sent() == b"" and rig.ct.take() == b""


@pytest.mark.parametrize(("mode", "status"), [("fail-open", b"HTTP/1.1 200"),
                                              ("fail-closed", b"HTTP/1.1 503")])
async def test_a_held_exchange_follows_the_fail_mode_when_redis_is_away(
        mode: str, status: bytes) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisCounterStore.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.1)
    try:
        rig = held_rig(store, f'<rate-limit calls="5" renewal-period="60" fail-mode="{mode}" />')
        held_request(rig)
        if mode == "fail-open":
            await until(lambda: rig.upstreams[0][1].data)
            rig.reply(OK)
        await until(lambda: rig.ct.data)
        out = rig.ct.take()
        assert out.startswith(status), out
        if mode == "fail-closed":
            assert b"store is unavailable" in out and rig.upstream_sent() == b""
        assert rig.state.metrics.rejections == {}  # the store failed, not the client
    finally:
        await store.close()


async def test_a_failing_verdict_answers_500_and_the_connection_goes_on(
        redis_counters: Any) -> None:
    rig = held_rig(redis_counters, RATE_LIMIT)
    held = held_request(rig)

    def broken(future: Any, arg: Any) -> None:
        raise RuntimeError("a bug")
    held.wait.settle = broken
    await until(lambda: rig.ct.data)
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 500") and b"Internal server error" in out
    assert rig.upstream_sent() == b"" and not rig.ct.closed
    rig.send(KEYED_GET)  # the connection still serves
    await until(lambda: rig.upstreams[0][1].data)


async def test_the_host_store_of_several_workers_takes_the_held_path_too(tmp_path: Any) -> None:
    """--workers > 1 with memory counters: the supervisor's counter server answers
    through futures, so a key + rate-limit request is held, then forwarded or refused."""
    from kubegate.services.counters import HostCounterClient, serve_host_counters

    path = str(tmp_path / "c.sock")
    service = await serve_host_counters(path)
    store = HostCounterClient(path)
    try:
        rig = held_rig(store, RATE_LIMIT, calls=1)
        held_request(rig)
        await until(lambda: rig.upstreams[0][1].data)
        assert b"subscription-key" not in rig.upstream_sent().lower()
        rig.reply(OK)
        assert rig.ct.take().endswith(b"ok")
        rig.send(KEYED_GET)
        await until(lambda: rig.ct.data)
        assert rig.ct.take().startswith(b"HTTP/1.1 429") and rig.upstream_sent() == b""
    finally:
        await store.close()
        await service.aclose()

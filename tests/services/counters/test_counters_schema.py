"""Attribute schemas of the four limit policies: valid input, and every error kind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubegate.model.errors import ConfigError
from kubegate.services.counters import (
    Expression,
    parse_quota,
    parse_quota_by_key,
    parse_rate_limit,
    parse_rate_limit_by_key,
)


def el(tag: str, children: list[dict[str, Any]] | None = None, line: int | None = None,
       **attrs: str) -> dict[str, Any]:
    return {"name": tag, "attributes": {k.replace("_", "-"): v for k, v in attrs.items()},
            "children": children or [], "line": line}


def errors(fn: Any, element: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        fn(element)
    return str(info.value)


def test_rate_limit_with_nested_api_and_operation() -> None:
    op = el("operation", name="get-item", calls="5", renewal_period="10")
    api = el("api", [op], id="items", calls="50", renewal_period="60")
    spec = parse_rate_limit(el("rate-limit", [api], calls="100", renewal_period="300",
                               remaining_calls_header_name="X-Remaining",
                               retry_after_variable_name="wait"))
    assert (spec.calls, spec.renewal_period) == (100, 300)
    assert spec.headers.retry_after_header_name == "Retry-After"
    assert spec.headers.remaining_calls_header_name == "X-Remaining"
    assert spec.headers.retry_after_variable_name == "wait"
    assert spec.headers.total_calls_header_name is None
    (a,) = spec.apis
    assert (a.ref, a.calls, a.renewal_period) == ("items", 50, 60)
    assert (a.operations[0].ref, a.operations[0].calls) == ("get-item", 5)


def test_rate_limit_errors_are_all_reported_with_line() -> None:
    msg = errors(parse_rate_limit, el("rate-limit", line=7, calls="ten", renewal_period="301",
                                      colour="blue"))
    assert "<rate-limit> colour: unknown attribute" in msg
    assert "<rate-limit> calls: must be a whole number, got 'ten'" in msg
    assert "<rate-limit> renewal-period: must be between 1 and 300, got 301" in msg
    assert ":7:" in msg
    assert "required attribute is missing" in errors(parse_rate_limit, el("rate-limit", calls="1"))


def test_rate_limit_rejects_expressions_and_bad_children() -> None:
    msg = errors(parse_rate_limit, el("rate-limit", calls="@(5)", renewal_period="10"))
    assert "calls: policy expressions are not allowed here" in msg
    msg = errors(parse_rate_limit, el("rate-limit", [el("product")], calls="1", renewal_period="1"))
    assert "unexpected child element <product>" in msg
    msg = errors(parse_rate_limit, el("rate-limit", [el("api", calls="1", renewal_period="1")],
                                      calls="1", renewal_period="1"))
    assert "<api>: name or id must be specified" in msg


def test_rate_limit_by_key_keeps_expressions() -> None:
    spec = parse_rate_limit_by_key(el(
        "rate-limit-by-key", calls="10", renewal_period="60",
        counter_key="@(context.Request.IpAddress)",
        increment_condition="@(context.Response.StatusCode == 200)",
        increment_count="@(2)", total_calls_header_name="X-Total"))
    assert spec.counter_key == Expression("@(context.Request.IpAddress)")
    assert spec.increment_condition == Expression("@(context.Response.StatusCode == 200)")
    assert spec.increment_count == Expression("@(2)")
    assert spec.headers.total_calls_header_name == "X-Total"
    plain = parse_rate_limit_by_key(el("rate-limit-by-key", calls="3", renewal_period="5",
                                       counter_key="fixed", increment_condition="TRUE"))
    assert (plain.counter_key, plain.increment_condition, plain.increment_count) == ("fixed", True, 1)


def test_rate_limit_by_key_errors() -> None:
    msg = errors(parse_rate_limit_by_key, el("rate-limit-by-key", calls="3", renewal_period="0",
                                             increment_condition="maybe", increment_count="-1"))
    assert "counter-key: required attribute is missing" in msg
    assert "renewal-period: must be between 1 and 300, got 0" in msg
    assert "increment-condition: must be a boolean expression" in msg
    assert "increment-count: must be at least 0, got -1" in msg
    with pytest.raises(ConfigError, match="expected <rate-limit-by-key>"):
        parse_rate_limit_by_key(el("rate-limit", calls="1"))


def test_quota_calls_bandwidth_lifetime_and_nesting() -> None:
    op = el("operation", id="op1", bandwidth="10", renewal_period="60")
    spec = parse_quota(el("quota", [el("api", [op], name="a", calls="5", renewal_period="0")],
                          calls="10000", bandwidth="40000", renewal_period="3600"))
    assert (spec.calls, spec.bandwidth, spec.renewal_period) == (10000, 40000, 3600)
    assert spec.apis[0].renewal_period == 0 and spec.apis[0].bandwidth is None
    assert spec.apis[0].operations[0].bandwidth == 10
    only_bw = parse_quota(el("quota", bandwidth="1", renewal_period="0"))
    assert only_bw.calls is None and only_bw.renewal_period == 0


def test_quota_errors() -> None:
    msg = errors(parse_quota, el("quota", renewal_period="60"))
    assert "calls, bandwidth, or both must be specified" in msg
    msg = errors(parse_quota, el("quota", calls="1", renewal_period="-5", counter_key="x"))
    assert "renewal-period: must be at least 0" in msg and "counter-key: unknown attribute" in msg
    msg = errors(parse_quota, el("quota", [el("api", [el("operation", name="o")], name="a",
                                                calls="1", renewal_period="1")],
                                  calls="1", renewal_period="1"))
    assert "<operation>: calls, bandwidth, or both must be specified" in msg


def test_quota_by_key_first_period_start() -> None:
    spec = parse_quota_by_key(el("quota-by-key", calls="10", renewal_period="86400",
                                 counter_key="@(context.Subscription.Id)",
                                 first_period_start="2024-01-01T06:00:00Z"))
    assert spec.first_period_start == datetime(2024, 1, 1, 6, tzinfo=UTC)
    assert spec.anchor == datetime(2024, 1, 1, 6, tzinfo=UTC).timestamp()
    default = parse_quota_by_key(el("quota-by-key", bandwidth="5", renewal_period="60",
                                    counter_key="k"))
    assert default.anchor == -62135596800.0  # 0001-01-01T00:00:00Z
    msg = errors(parse_quota_by_key, el("quota-by-key", calls="1", renewal_period="60",
                                        counter_key="k", first_period_start="yesterday"))
    assert "first-period-start: must be an ISO 8601 date-time" in msg
    msg = errors(parse_quota_by_key, el("quota-by-key", calls="@(1)", renewal_period="60",
                                        counter_key="k"))
    assert "calls: policy expressions are not allowed here" in msg

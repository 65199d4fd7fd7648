"""Parsers: element dict -> validated spec (see ``schema`` for the shapes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubegate.model.errors import Problem

from .schema import (
    APIM_EPOCH,
    HEADER_ATTRS,
    MAX_RATE_PERIOD,
    Expression,
    QuotaByKeySpec,
    QuotaSpec,
    RateLimitByKeySpec,
    RateLimitSpec,
    ScopedLimit,
    _check,
    _expect,
    _Reader,
)


def parse_rate_limit(el: dict[str, Any]) -> RateLimitSpec:
    _expect(el, "rate-limit")
    problems: list[Problem] = []
    r = _Reader(el, ("calls", "renewal-period", *HEADER_ATTRS), problems)
    calls = r.plain_int("calls", required=True)
    period = r.plain_int("renewal-period", required=True, lo=1, hi=MAX_RATE_PERIOD)
    apis = _scoped(el, problems, quota=False)
    headers = r.headers()
    _check(problems)
    assert calls is not None and period is not None
    return RateLimitSpec(calls, period, headers, apis)


def parse_rate_limit_by_key(el: dict[str, Any]) -> RateLimitByKeySpec:
    _expect(el, "rate-limit-by-key")
    problems: list[Problem] = []
    r = _Reader(el, ("calls", "renewal-period", "counter-key", "increment-condition",
                     "increment-count", *HEADER_ATTRS), problems)
    calls = r.integer("calls", required=True, expr=True)
    period = r.integer("renewal-period", required=True, expr=True, lo=1, hi=MAX_RATE_PERIOD)
    key = r.text("counter-key", required=True, expr=True)
    cond = r.condition("increment-condition")
    count = r.integer("increment-count", expr=True)
    headers = r.headers()
    _no_children(el, r)
    _check(problems)
    assert calls is not None and period is not None and key is not None
    return RateLimitByKeySpec(calls, period, key, cond, 1 if count is None else count, headers)


def parse_quota(el: dict[str, Any]) -> QuotaSpec:
    _expect(el, "quota")
    problems: list[Problem] = []
    r = _Reader(el, ("calls", "bandwidth", "renewal-period"), problems)
    calls, bandwidth, period = _quota_amounts(r)
    apis = _scoped(el, problems, quota=True)
    _check(problems)
    assert period is not None
    return QuotaSpec(calls, bandwidth, period, apis)


def parse_quota_by_key(el: dict[str, Any]) -> QuotaByKeySpec:
    _expect(el, "quota-by-key")
    problems: list[Problem] = []
    r = _Reader(el, ("calls", "bandwidth", "renewal-period", "counter-key", "increment-condition",
                     "increment-count", "first-period-start"), problems)
    calls, bandwidth, period = _quota_amounts(r)
    key = r.text("counter-key", required=True, expr=True)
    cond = r.condition("increment-condition")
    count = r.integer("increment-count", expr=True)
    start = _first_period_start(r)
    _no_children(el, r)
    _check(problems)
    assert period is not None and key is not None
    return QuotaByKeySpec(calls, bandwidth, period, key, cond, 1 if count is None else count, start)


def _quota_amounts(r: _Reader) -> tuple[int | None, int | None, int | None]:
    calls = r.plain_int("calls")
    bandwidth = r.plain_int("bandwidth")
    if "calls" not in r.attrs and "bandwidth" not in r.attrs:
        r.fail(None, "calls, bandwidth, or both must be specified")
    return calls, bandwidth, r.plain_int("renewal-period", required=True)


def _first_period_start(r: _Reader) -> datetime:
    value = r.text("first-period-start")
    if not isinstance(value, str):
        return APIM_EPOCH
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        r.fail("first-period-start", f"must be an ISO 8601 date-time like 2024-01-01T00:00:00Z, got {value!r}")
        return APIM_EPOCH
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _no_children(el: dict[str, Any], r: _Reader) -> None:
    for child in el.get("children") or ():
        r.fail(None, f"unexpected child element <{child.get('name')}>")


def _scoped(el: dict[str, Any], problems: list[Problem], *, quota: bool) -> tuple[ScopedLimit, ...]:
    out = []
    for child in el.get("children") or ():
        if child.get("name") != "api":
            _Reader(el, (), problems).fail(None, f"unexpected child element <{child.get('name')}> (only <api>)")
            continue
        ops = []
        for op in child.get("children") or ():
            if op.get("name") != "operation":
                _Reader(child, (), problems).fail(
                    None, f"unexpected child element <{op.get('name')}> (only <operation>)")
                continue
            ops.append(_limit(op, problems, quota, ()))
        out.append(_limit(child, problems, quota, tuple(ops)))
    return tuple(out)


def _limit(el: dict[str, Any], problems: list[Problem], quota: bool,
           ops: tuple[ScopedLimit, ...]) -> ScopedLimit:
    allowed = ("name", "id", "calls", "renewal-period") + (("bandwidth",) if quota else ())
    r = _Reader(el, allowed, problems)
    name, ident = r.text("name"), r.text("id")
    if name is None and ident is None:
        r.fail(None, "name or id must be specified")
    if quota:
        calls, bandwidth, period = _quota_amounts(r)
    else:
        calls = r.plain_int("calls", required=True)
        period = r.plain_int("renewal-period", required=True, lo=1, hi=MAX_RATE_PERIOD)
        bandwidth = None
    return ScopedLimit(str(el.get("name")), name if isinstance(name, str) else None,
                       ident if isinstance(ident, str) else None, calls, period, bandwidth, ops)


__all__ = ["Expression", "parse_quota", "parse_quota_by_key", "parse_rate_limit",
           "parse_rate_limit_by_key"]

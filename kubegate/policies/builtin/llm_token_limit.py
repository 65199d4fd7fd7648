"""llm-token-limit and azure-openai-token-limit: limit LLM tokens per key.

Attributes (APIM): ``counter-key`` (expression allowed), exactly one of
``tokens-per-minute`` (a sliding 60 s window) or ``token-quota`` with
``token-quota-period`` (``Hourly``, ``Daily``, ``Weekly``, ``Monthly``,
``Yearly``; also ``hour``/``day``/``week``/``month``/``year``: fixed UTC calendar
windows, weeks from Monday), ``estimate-prompt-tokens`` (required; the policy
toolkit's ``estimate-prompt-token`` is accepted too), the ``retry-after-*``,
``remaining-tokens-*``, ``remaining-quota-tokens-*`` and ``tokens-consumed-*``
header/variable names, and kubegate's ``fail-mode``.

Counting, on the counter store shared with rate-limit-by-key (one counter per
key value for every scope and both policy names): in inbound the estimated
prompt tokens are charged when ``estimate-prompt-tokens`` is true or the request
asks for ``"stream": true`` (otherwise only "is there a token left?" is asked);
a request over the limit gets 429 (rate; ``Retry-After``) or 403 (quota). After
the backend's response the tokens it reports (``usage``; see llm_usage) beyond
the charged estimate are added, up to the limit, so later requests are refused
until the window frees up. An over-estimate is not refunded. A response without
``usage`` counts the estimate. ``tokens-consumed-*`` get the final count.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.services.counters import LimitResponse
from kubegate.services.counters.responses import timespan

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, to_text
from .limits_common import (
    add_response_header,
    after_response,
    as_int,
    counter_store,
    fail_mode,
    rejected,
    unavailable,
)
from .llm_usage import estimate_prompt, is_stream, usage

RATE_PERIOD = 60
PERIODS = {"hourly": "hour", "hour": "hour", "daily": "day", "day": "day", "weekly": "week",
           "week": "week", "monthly": "month", "month": "month", "yearly": "year",
           "year": "year"}
NAMES = ("retry-after-header-name", "retry-after-variable-name",
         "remaining-quota-tokens-header-name", "remaining-quota-tokens-variable-name",
         "remaining-tokens-header-name", "remaining-tokens-variable-name",
         "tokens-consumed-header-name", "tokens-consumed-variable-name")
ESTIMATE = ("estimate-prompt-tokens", "estimate-prompt-token")


def window(unit: str, now: datetime) -> tuple[str, float, int, datetime]:
    """(key suffix, window start, store period, window end) of the calendar window."""
    if unit == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
    elif unit == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
    elif unit == "week":
        start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0,
                                                              microsecond=0)
        end = start + timedelta(days=7)
    elif unit == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start = now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1)
    period = int((end - start).total_seconds()) + 1
    return start.strftime("%Y%m%d%H"), start.timestamp(), period, end


def _response(status: int, message: str, retry: int, header: str | None) -> LimitResponse:
    body = json.dumps({"statusCode": status, "message": message}).encode()
    headers = ((header or "Retry-After", str(retry)), ("Content-Type", "application/json"))
    return LimitResponse(status, headers, body)


def compile_token_limit(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("counter-key", "tokens-per-minute", "token-quota", "token-quota-period",
                       *ESTIMATE, *NAMES, "fail-mode"), required=("counter-key",))
    policy = el.name
    mode = fail_mode(el, c)
    est_attr = next((a for a in ESTIMATE if a in el.attributes), None)
    if est_attr is None:
        c.problem(el, "missing required attribute 'estimate-prompt-tokens'")
    estimate = c.const_bool(el, est_attr, False) if est_attr else False
    has_tpm, has_quota = "tokens-per-minute" in el.attributes, "token-quota" in el.attributes
    if has_tpm == has_quota:
        c.problem(el, "needs either 'tokens-per-minute' or 'token-quota' with "
                      "'token-quota-period' (not both)")
        return None
    unit = None
    if has_quota:
        raw = c.const(el, "token-quota-period")
        unit = PERIODS.get((raw or "").strip().lower())
        if unit is None:
            c.attr_problem(el, "token-quota-period", "expected Hourly, Daily, Weekly, Monthly "
                                                     f"or Yearly, got {raw!r}")
            return None
    key_of = evaluator(c.attr(el, "counter-key", ""))  # type: ignore[arg-type]
    limit_attr = "tokens-per-minute" if has_tpm else "token-quota"
    limit_of = evaluator(c.attr(el, limit_attr, "0"))  # type: ignore[arg-type]
    names = {n: c.const(el, n) for n in NAMES}
    store = counter_store(c)
    c.needs_request_body = True
    c.needs_response_body = True

    async def charge(key: str, limit: int, n: int, quota_key: tuple[str, float, int] | None
                     ) -> None:
        """Add ``n`` tokens after the response, up to the limit."""
        if quota_key is None:
            d = await store.hit_rate(key, limit, RATE_PERIOD, n, fail_mode=mode)
            if not d.allowed and d.remaining > 0:
                await store.hit_rate(key, limit, RATE_PERIOD, d.remaining, fail_mode=mode)
            return
        qk, anchor, period = quota_key
        q = await store.hit_quota(qk, limit, None, period, anchor, n, fail_mode=mode)
        if not q.allowed and q.remaining_calls:
            await store.hit_quota(qk, limit, None, period, anchor, q.remaining_calls,
                                  fail_mode=mode)

    async def run(ctx: Any) -> None:
        body = ctx.Request.Body.content
        est = estimate_prompt(body) if estimate or is_stream(body) else 0
        limit = as_int(limit_of(ctx), limit_attr, 1)
        counter = to_text(key_of(ctx))
        quota_key: tuple[str, float, int] | None = None
        if unit is None:
            key = f"tok:{counter}"
            d = await store.hit_rate(key, limit, RATE_PERIOD, est, fail_mode=mode)
            if d.unavailable and not d.allowed:
                raise unavailable(ctx, policy, key, d.message)
            remaining, retry, allowed = d.remaining, d.retry_after_s, d.allowed
            var = "remaining-tokens"
        else:
            suffix, anchor, period, end = window(unit, ctx.now())
            key = f"tokq:{unit}:{counter}:{suffix}"
            quota_key = (key, anchor, period)
            q = await store.hit_quota(key, limit, None, period, anchor, est, fail_mode=mode)
            if q.unavailable and not q.allowed:
                raise unavailable(ctx, policy, key, q.message)
            remaining = q.remaining_calls or 0
            allowed = q.allowed and (est > 0 or remaining > 0)
            retry = max(1, int((end - ctx.now()).total_seconds() + 0.999))
            var = "remaining-quota-tokens"
        if names[f"{var}-variable-name"]:
            ctx.Variables[names[f"{var}-variable-name"]] = remaining
        add_response_header(ctx, names[f"{var}-header-name"], remaining)
        if not allowed:
            if names["retry-after-variable-name"]:
                ctx.Variables[names["retry-after-variable-name"]] = retry
            if unit is None:
                resp = _response(429, f"Token limit is exceeded. Try again in {retry} seconds.",
                                 retry, names["retry-after-header-name"])
                raise rejected(ctx, policy, key, f"{limit} tokens/min", resp,
                               "TokenLimitExceeded", "Token limit is exceeded")
            resp = _response(403, "Out of token quota. Quota will be replenished in "
                                  f"{timespan(retry)}.", retry, names["retry-after-header-name"])
            raise rejected(ctx, policy, key, f"{limit} tokens/{unit}", resp,
                           "TokenQuotaExceeded", "Out of token quota")
        if names["tokens-consumed-variable-name"]:
            ctx.Variables[names["tokens-consumed-variable-name"]] = est
        if ctx.Tracing:
            trace(ctx, f"{policy} {key}: {remaining} tokens left (charged estimate {est})")
        done = False

        async def count(ctx: Any) -> None:
            nonlocal done
            if done:
                return
            done = True
            used = usage(body, ctx.Response)
            total = est if used is None else used[2]
            if total > est:
                await charge(key, limit, total - est, quota_key)
            if names["tokens-consumed-variable-name"]:
                ctx.Variables[names["tokens-consumed-variable-name"]] = total
            add_response_header(ctx, names["tokens-consumed-header-name"], total)
            trace(ctx, f"{policy} {key}: the call used {total} tokens")
        after_response(ctx, count)
    return c.step(el, path, run, is_async=True, counter="rate" if unit is None else unit,
                  estimate=estimate)


@register("llm-token-limit", sections={"inbound"}, summary="limit LLM tokens per key")
def compile_llm_token_limit(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    return compile_token_limit(el, c, path)


@register("azure-openai-token-limit", sections={"inbound"},
          summary="limit Azure OpenAI tokens per key")
def compile_azure_openai_token_limit(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    return compile_token_limit(el, c, path)


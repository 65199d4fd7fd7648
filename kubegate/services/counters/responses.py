"""The responses APIM sends when a limit rejects a request.

rate-limit*: 429, ``Retry-After`` (or the configured header) and
``{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 5 seconds." }``.
quota*: 403, ``Retry-After`` and ``Out of call volume quota. Quota will be
replenished in 00:00:05.`` (the wait as a .NET TimeSpan, ``[d.]hh:mm:ss``), or
``Out of bandwidth quota. ...`` when the bandwidth ran out.  A lifetime quota
(renewal-period 0) never replenishes: no ``Retry-After`` and no "replenished".
The store being unreachable under ``fail-closed`` gives 503.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LimitResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _body(status: int, message: str) -> bytes:
    return f'{{ "statusCode": {status}, "message": {json.dumps(message)} }}'.encode()


def timespan(seconds: int) -> str:
    """.NET ``TimeSpan`` text for whole seconds: ``00:00:05``, ``5.03:23:11``."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}.{clock}" if days else clock


def rate_limit_exceeded(retry_after_s: int, header_name: str = "Retry-After") -> LimitResponse:
    message = f"Rate limit is exceeded. Try again in {retry_after_s} seconds."
    headers = ((header_name, str(retry_after_s)), ("Content-Type", "application/json"))
    return LimitResponse(429, headers, _body(429, message))


def quota_exceeded(retry_after_s: int, exceeded: str | None = "calls", *,
                   lifetime: bool = False) -> LimitResponse:
    what = "bandwidth" if exceeded == "bandwidth" else "call volume"
    if lifetime:
        return LimitResponse(403, (("Content-Type", "application/json"),),
                             _body(403, f"Out of {what} quota."))
    message = f"Out of {what} quota. Quota will be replenished in {timespan(retry_after_s)}."
    headers = (("Retry-After", str(retry_after_s)), ("Content-Type", "application/json"))
    return LimitResponse(403, headers, _body(403, message))


def store_unavailable(message: str) -> LimitResponse:
    return LimitResponse(503, (("Content-Type", "application/json"),), _body(503, message))

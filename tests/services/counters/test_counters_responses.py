"""The exact APIM rejection responses."""

from __future__ import annotations

import json

from kubegate.services.counters import quota_exceeded, rate_limit_exceeded, store_unavailable
from kubegate.services.counters.responses import timespan


def test_rate_limit_429() -> None:
    r = rate_limit_exceeded(5)
    assert r.status == 429
    assert r.body == b'{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 5 seconds." }'
    assert ("Retry-After", "5") in r.headers
    assert ("X-Wait", "7") in rate_limit_exceeded(7, header_name="X-Wait").headers


def test_quota_403_calls_and_bandwidth() -> None:
    r = quota_exceeded(5)
    assert r.status == 403 and ("Retry-After", "5") in r.headers
    assert json.loads(r.body) == {
        "statusCode": 403,
        "message": "Out of call volume quota. Quota will be replenished in 00:00:05.",
    }
    bw = json.loads(quota_exceeded(3 * 86400 + 3661, "bandwidth").body)["message"]
    assert bw == "Out of bandwidth quota. Quota will be replenished in 3.01:01:01."
    life = quota_exceeded(0, "calls", lifetime=True)
    assert json.loads(life.body)["message"] == "Out of call volume quota."
    assert all(name != "Retry-After" for name, _ in life.headers)


def test_timespan_matches_dotnet() -> None:
    assert timespan(0) == "00:00:00"
    assert timespan(59) == "00:00:59"
    assert timespan(5 * 86400 + 3 * 3600 + 23 * 60 + 11) == "5.03:23:11"


def test_store_unavailable_503() -> None:
    r = store_unavailable('store "down"')
    assert r.status == 503 and json.loads(r.body)["message"] == 'store "down"'

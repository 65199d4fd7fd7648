"""Counter stores behind rate-limit, rate-limit-by-key, quota and quota-by-key.

* ``MemoryCounterStore`` - one process.
* ``start_host_counter_server`` / ``HostCounterClient`` - the workers of one host.
* ``RedisCounterStore`` - replicas (import ``kubegate.services.counters.redis_store``;
  it needs the ``redis`` package).
* ``schema_parse`` - the policies' attribute schemas; ``responses`` - 429/403/503.
"""

from .base import (
    DEFAULT_FAIL_MODE,
    FAIL_CLOSED,
    FAIL_OPEN,
    CounterStore,
    CounterUnavailable,
    FailMode,
    FailureStats,
    QuotaDecision,
    RateDecision,
)
from .host import (
    HostCounterClient,
    HostCounterServer,
    HostCounterService,
    serve_host_counters,
    start_host_counter_server,
)
from .memory import MemoryCounterStore
from .responses import LimitResponse, quota_exceeded, rate_limit_exceeded, store_unavailable
from .schema import (
    Expression,
    Headers,
    QuotaByKeySpec,
    QuotaSpec,
    RateLimitByKeySpec,
    RateLimitSpec,
    ScopedLimit,
)
from .schema_parse import parse_quota, parse_quota_by_key, parse_rate_limit, parse_rate_limit_by_key

__all__ = [
    "DEFAULT_FAIL_MODE", "FAIL_CLOSED", "FAIL_OPEN", "CounterStore", "CounterUnavailable",
    "Expression", "FailMode", "FailureStats", "Headers", "HostCounterClient", "HostCounterServer", "HostCounterService",
    "LimitResponse", "MemoryCounterStore", "QuotaByKeySpec", "QuotaDecision", "QuotaSpec",
    "RateDecision", "RateLimitByKeySpec", "RateLimitSpec", "ScopedLimit", "parse_quota",
    "parse_quota_by_key", "parse_rate_limit", "parse_rate_limit_by_key", "quota_exceeded",
    "rate_limit_exceeded", "serve_host_counters", "start_host_counter_server", "store_unavailable",
]

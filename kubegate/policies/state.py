"""``PolicyContext``: the ``Context`` plus the engine's per-request slots.

The expression-visible ``Context`` (context.py) is not touched; the engine's own
state lives in extra slots that expressions cannot reach (they are not in
``__cs_members__``):

* ``send`` — the data plane's backend callback for this request;
* ``backend_url`` — set by ``set-backend-service``; ``None`` means the API's backend;
* ``trace`` — decision lines (``None`` until something is traced; set it to a list
  and ``Tracing = True`` to trace every step);
* ``response_headers`` — headers ``cors`` adds to the final response;
* ``cache_key`` — the response-cache key ``cache-lookup`` computed on a miss;
* ``backend_certificate`` — set by ``authentication-certificate``: the client
  certificate (``kubegate.services.certificates.HeldCertificate``) presented to an
  https backend;
* ``backend_proxy`` — set by ``proxy``: the HTTP proxy (a ``ProxyRoute``) the
  backend call goes through;
* ``exchange`` — the data plane's object for this request (opaque to policies): its
  backend callback finds the request through it.

Build it with ``PolicyContext.for_request(...)`` (same arguments as ``Context``), or
with ``PolicyContext.received(...)`` from the data plane's per-request fast path."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .context import ApiInfo, Context, OperationInfo, Request


class PolicyContext(Context):
    __slots__ = ("send", "backend_url", "trace", "response_headers", "cache_key",
                 "trace_allowed", "backend_certificate", "backend_proxy", "exchange")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.send: Callable[[Any], Awaitable[None]] | None = None
        self.backend_url: str | None = None
        self.trace: list[str] | None = None
        self.response_headers: list[tuple[str, str]] | None = None
        self.cache_key: str | None = None
        self.trace_allowed = False  # the subscription may ask for a live trace
        self.backend_certificate: Any = None
        self.backend_proxy: ProxyRoute | None = None
        self.exchange: Any = None

    @classmethod
    def received(cls, request: Request, api: ApiInfo, operation: OperationInfo,
                 request_id: str | None, start: float) -> PolicyContext:
        """The context of a request as the data plane received it: every slot set
        directly, as ``__init__`` would with the system clock and no deployment."""
        self = cls.__new__(cls)
        self.Request = request
        self._response = self.Subscription = self.Product = self.User = None
        self.LastError = self.Deployment = None
        self.Variables = {}
        self.Api = api
        self.Operation = operation
        self._request_id = request_id
        self._clock = time.time
        self._start = start
        self.Tracing = self.trace_allowed = False
        self.send = self.backend_url = self.trace = self.response_headers = None
        self.cache_key = self.backend_certificate = self.backend_proxy = self.exchange = None
        return self


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """An HTTP proxy for the backend call: ``authorization`` is the
    ``Proxy-Authorization`` value (Basic), or None; kept out of ``repr`` (logs, traces)."""

    host: str
    port: int
    authorization: bytes | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

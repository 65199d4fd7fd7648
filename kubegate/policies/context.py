"""The run-time ``context`` seen by policies and policy expressions.

A ``Context`` is built per request, and only for operations that have
policies, so construction is cheap: the request id, the original URL, the
parsed query and the response are made on first use. Expressions reach only
the members named in each class's ``__cs_members__`` (from the compiler's
schema). Time comes from an injected clock (seconds since the epoch)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from kubegate.sources.apim.expressions import CONTEXT_MEMBERS

from .context_http import Headers, MessageBody, QueryParameters, Request, Response, Url
from .context_info import (
    ApiInfo,
    DeploymentInfo,
    GatewayInfo,
    Group,
    LastError,
    OperationInfo,
    ProductInfo,
    SubscriptionInfo,
    UserInfo,
)

Clock = Callable[[], float]
DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=1024)
def host_and_port(host: str, scheme: str) -> tuple[str, int]:
    """A Host header value split into name and port (the scheme's default if none)."""
    name, sep, maybe_port = host.rpartition(":")
    if sep and maybe_port.isdigit() and (":" not in name or name.endswith("]")):
        return name, int(maybe_port)
    return host, DEFAULT_PORTS.get(scheme.lower(), 80)


class Context:
    __cs_type__ = "Context"
    __cs_members__ = CONTEXT_MEMBERS["Context"]
    __slots__ = ("Request", "_response", "Variables", "Subscription", "Product", "Api",
                 "Operation", "User", "LastError", "Deployment", "_request_id", "_clock",
                 "_start", "Tracing")

    def __init__(self, request: Request, *, api: ApiInfo | None = None,
                 operation: OperationInfo | None = None, clock: Clock = time.time,
                 request_id: str | None = None,
                 deployment: DeploymentInfo | None = None) -> None:
        self.Request = request
        self._response: Response | None = None
        self.Variables: dict[str, Any] = {}
        self.Subscription: SubscriptionInfo | None = None
        self.Product: ProductInfo | None = None
        self.Api = api
        self.Operation = operation
        self.User: UserInfo | None = None
        self.LastError: LastError | None = None
        self.Deployment = deployment
        self._request_id = request_id
        self._clock = clock
        self._start = clock()
        self.Tracing = False

    @classmethod
    def for_request(cls, method: str, path: str, query: str,
                    headers: list[tuple[str, str]] | Headers,
                    client_ip: str, scheme: str, host: str, api: ApiInfo | None,
                    operation: OperationInfo | None, body: bytes | None = None, *,
                    port: int | None = None, matched_parameters: Mapping[str, str] | None = None,
                    clock: Clock = time.time, request_id: str | None = None,
                    deployment: DeploymentInfo | None = None) -> Context:
        """Build the context for one request as received by the gateway.

        ``host`` may carry a port (``example.com:8080``); ``query`` is the raw
        query string with or without its leading ``?``."""
        if port is None:
            host, port = host_and_port(host, scheme)
        url = Url(scheme, host, port, path, query)
        request = Request(method, url, headers if isinstance(headers, Headers) else Headers(headers),
                          client_ip, MessageBody(body),
                          dict(matched_parameters or {}))
        return cls(request, api=api, operation=operation, clock=clock, request_id=request_id,
                   deployment=deployment)

    @property
    def Response(self) -> Response:  # noqa: N802
        if self._response is None:
            self._response = Response()
        return self._response

    @Response.setter
    def Response(self, value: Response) -> None:  # noqa: N802
        self._response = value

    @property
    def RequestId(self) -> str:  # noqa: N802
        if self._request_id is None:
            self._request_id = str(uuid.uuid4())
        return self._request_id

    @property
    def Timestamp(self) -> datetime:  # noqa: N802
        return datetime.fromtimestamp(self._start, UTC)

    @property
    def Elapsed(self) -> timedelta:  # noqa: N802
        return timedelta(seconds=max(self._clock() - self._start, 0.0))

    def now(self) -> datetime:
        """Current time for ``DateTime.UtcNow`` (from the injected clock)."""
        return datetime.fromtimestamp(self._clock(), UTC)

    def now_seconds(self) -> float:
        """``now()`` as seconds since the epoch, without making a datetime."""
        return self._clock()


__all__ = [
    "ApiInfo", "Context", "DeploymentInfo", "GatewayInfo", "Group", "Headers", "LastError",
    "MessageBody", "OperationInfo", "ProductInfo", "QueryParameters", "Request", "Response",
    "SubscriptionInfo", "Url", "UserInfo",
]

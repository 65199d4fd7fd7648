"""Errors raised while a policy pipeline runs, and the signal that ends it.

* ``PolicyFailure`` — a policy refused the request (check-header, ip-filter,
  validate-jwt, ...) or failed; it carries the response APIM would send and
  goes to ``on-error`` with ``context.LastError`` filled.
* ``BackendError`` — raised by the data plane's ``send`` callback when the
  backend cannot be reached (502) or does not answer in time (504).
* ``STOP`` — returned by a step to end the pipeline (return-response,
  mock-response, a CORS preflight): no further inbound/backend/outbound step runs.
"""

from __future__ import annotations

import json
from typing import Final


class _Stop:
    __slots__ = ()

    def __repr__(self) -> str:
        return "STOP"


STOP: Final = _Stop()


class PolicyFailure(Exception):
    """A policy ended the request with an error response; ``on-error`` runs next."""

    def __init__(self, status: int, reason: str, message: str, *,
                 headers: list[tuple[str, str]] | None = None,
                 body: bytes | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers or []
        self.body = body
        self.source = source

    def response_body(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps({"statusCode": self.status, "message": self.message}).encode()


class BackendError(Exception):
    """The backend failed: ``status`` is 502 (unreachable, bad response) or 504 (timeout).

    ``reason`` goes to ``context.LastError.Reason`` (e.g. ``BackendConnectionFailure``,
    ``Timeout``)."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or ("Timeout" if status == 504 else "BackendConnectionFailure")

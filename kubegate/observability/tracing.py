"""Correlation: X-Request-Id pass-through and W3C Trace Context (`traceparent`).

Both helpers are pure functions over header values: no state, no I/O. Span
export (OTLP) is not built in; with tracing off the data plane simply does not
call `traceparent_for`, so it costs nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-/+=]{1,200}$")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")

Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def header(headers: Headers, name: str) -> str | None:
    """First value of header `name` (case-insensitive) in a mapping or (name, value) pairs."""
    wanted = name.lower()
    items = headers.items() if isinstance(headers, Mapping) else headers
    for k, v in items:
        if _text(k).lower() == wanted:
            return _text(v)
    return None


def request_id(incoming: str | bytes | None) -> str:
    """The client's X-Request-Id if it is sane (1-200 safe characters), else a new one."""
    if incoming is not None:
        text = _text(incoming).strip()
        if _REQUEST_ID.match(text):
            return text
    return os.urandom(16).hex()


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags) of a valid version-00 (or later) header, else None."""
    if value is None:
        return None
    m = _TRACEPARENT.match(value.strip().lower())
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} \
            or set(span_id) == {"0"}:
        return None
    return trace_id, span_id, flags


def traceparent_for(headers: Headers | str | None, sampled: bool = False) -> str:
    """The traceparent to send upstream: the caller's trace continued with a new span id,
    or a new trace when the request carried none (or an invalid one)."""
    value = headers if isinstance(headers, str) or headers is None else \
        header(headers, "traceparent")
    span = os.urandom(8).hex()
    parsed = parse_traceparent(value)
    if parsed is not None:
        trace_id, _, flags = parsed
        return f"00-{trace_id}-{span}-{flags}"
    return f"00-{os.urandom(16).hex()}-{span}-{'01' if sampled else '00'}"

"""Header rules applied per hop: hop-by-hop removal, framing, X-Forwarded-*."""

from __future__ import annotations

# RFC 9110 7.6.1 connection-specific fields, plus the de-facto ones.
HOP_BY_HOP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
        b"transfer-encoding", b"upgrade", b"proxy-authenticate", b"proxy-authorization",
    }
)
# Request fields the gateway reads or re-derives itself.
REQUEST_SPECIAL = HOP_BY_HOP | {
    b"host", b"content-length", b"expect", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-forwarded-host",
}
RESPONSE_SPECIAL = HOP_BY_HOP | {b"content-length"}


def connection_tokens(values: list[bytes]) -> set[bytes]:
    tokens: set[bytes] = set()
    for value in values:
        for token in value.split(b","):
            token = token.strip().lower()
            if token:
                tokens.add(token)
    return tokens


def is_chunked_only(values: list[bytes]) -> bool:
    """A request Transfer-Encoding we accept: exactly `chunked`, once."""
    return len(values) == 1 and values[0].strip().lower() == b"chunked"


def valid_content_length(values: list[bytes]) -> int | None:
    """The body length, or None when the values are malformed or disagree."""
    first = values[0].strip()
    if not first.isdigit() or len(first) > 18:
        return None
    for other in values[1:]:
        if other.strip() != first:
            return None
    return int(first)

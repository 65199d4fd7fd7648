"""Header rules applied per hop: hop-by-hop removal, framing, X-Forwarded-*."""

from __future__ import annotations

import re
from typing import Final

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
REQUEST_INTERCEPTED = REQUEST_SPECIAL | {b"traceparent", b"x-kubegate-trace"}
"""Fields the request parser looks at before deciding to copy them (traceparent: rewritten
when tracing is on; x-kubegate-trace: asks policies for a live trace, never forwarded)."""
RESPONSE_SPECIAL = HOP_BY_HOP | {b"content-length"}


def connection_tokens(values: list[bytes]) -> set[bytes]:
    tokens: set[bytes] = set()
    for value in values:
        for token in value.split(b","):
            token = token.strip().lower()
            if token:
                tokens.add(token)
    return tokens


def without_fields(lines: list[bytes], names: set[bytes] | frozenset[bytes]) -> list[bytes]:
    """Header lines (`Name: value\r\n`, as the data plane builds them) except those whose
    lower-case name is in `names`. With one name (the usual case: a subscription key),
    only a line whose colon comes right after that many bytes is compared."""
    if len(names) == 1:
        (name,) = names
        size = len(name)
        return [line for line in lines
                if line[size:size + 1] != b":" or line[:size].lower() != name]
    return [line for line in lines if line.split(b":", 1)[0].lower() not in names]


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


PLAIN_CONNECTION_TOKENS: Final = frozenset({b"keep-alive", b"close", b"upgrade"})
_HOP_LINE: Final = re.compile(
    rb"^(connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade"
    rb"|proxy-authenticate|proxy-authorization)[ \t]*:[ \t]*([^\r\n]*)\r\n",
    re.IGNORECASE | re.MULTILINE,
)
_LENGTH_LINE: Final = re.compile(rb"^content-length[ \t]*:", re.IGNORECASE | re.MULTILINE)


_BLOCKS: Final[dict[bytes, tuple[bytes, bool, bool]]] = {}
_LAST: Final[list[object]] = [b"", (b"", False, False)]  # the last head and its result
BLOCK_CACHE_SIZE: Final = 256


def response_header_block(head: bytes) -> tuple[bytes, bool, bool]:
    """From a raw response head: (header lines without hop-by-hop fields, each
    ending in CRLF; whether Content-Length is present; whether the body is chunked).

    A backend repeats the same head many times a second (its Date changes once a
    second): results for heads up to 2 KiB are kept, for up to BLOCK_CACHE_SIZE
    distinct heads, and the table is emptied when full, so memory stays bounded; the
    last head is compared first, which costs less than hashing it (a pure function
    of its input: nothing leaks between responses)."""
    if head == _LAST[0]:
        return _LAST[1]  # type: ignore[return-value]
    found = _BLOCKS.get(head)
    if found is None:
        found = _header_block(head[head.find(b"\r\n") + 2 : -2])
        if len(head) <= 2048:
            if len(_BLOCKS) >= BLOCK_CACHE_SIZE:
                _BLOCKS.clear()
            _BLOCKS[head] = found
            _LAST[0], _LAST[1] = head, found
    return found


def _header_block(block: bytes) -> tuple[bytes, bool, bool]:
    chunked = False
    hops = _HOP_LINE.findall(block)
    if hops:
        named: set[bytes] = set()
        for name, value in hops:
            low = name.lower()
            if low == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif low == b"connection" and value.lower() not in PLAIN_CONNECTION_TOKENS:
                named |= connection_tokens([value]) - PLAIN_CONNECTION_TOKENS
        block = _HOP_LINE.sub(b"", block)
        if named:
            block = b"".join(
                line + b"\r\n" for line in block.split(b"\r\n")[:-1]
                if line.split(b":", 1)[0].strip().lower() not in named
            )
    return block, _LENGTH_LINE.search(block) is not None, chunked


def header_pairs(block: bytes) -> list[tuple[bytes, bytes]]:
    """Header lines (as from response_header_block) as (name, value) pairs."""
    pairs = []
    for line in block.split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        pairs.append((name.strip(), value.strip()))
    return pairs

"""response_header_block: hop-by-hop fields removed, framing facts, bounded result cache;
header lines without a field."""

import pytest

from kubegate.proxy import headers
from kubegate.proxy.headers import (
    BLOCK_CACHE_SIZE,
    response_header_block,
    without_fields,
)


def head(*lines: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def test_hop_by_hop_and_connection_named_fields_are_removed() -> None:
    block, has_length, chunked = response_header_block(head(
        b"Content-Type: text/plain", b"Connection: keep-alive, X-Secret", b"X-Secret: 1",
        b"Keep-Alive: timeout=5", b"Transfer-Encoding: chunked", b"X-Kept: 2"))
    assert block == b"Content-Type: text/plain\r\nX-Kept: 2\r\n"
    assert (has_length, chunked) == (False, True)
    block, has_length, chunked = response_header_block(head(b"Content-Length: 3"))
    assert (block, has_length, chunked) == (b"Content-Length: 3\r\n", True, False)


def test_results_are_reused_and_the_cache_stays_bounded() -> None:
    headers._BLOCKS.clear()
    headers._LAST[0] = b""
    first = response_header_block(head(b"Date: a", b"Content-Length: 1"))
    again = response_header_block(head(b"Date: a", b"Content-Length: 1"))
    assert again == first and len(headers._BLOCKS) == 1  # the same head: the cached result
    other = response_header_block(head(b"Date: b", b"Connection: close", b"Content-Length: 1"))
    assert other == (b"Date: b\r\nContent-Length: 1\r\n", True, False)
    for i in range(3 * BLOCK_CACHE_SIZE):
        response_header_block(head(b"X-N: %d" % i))
    assert 0 < len(headers._BLOCKS) <= BLOCK_CACHE_SIZE
    big = head(b"X-Big: " + b"v" * 4000, b"Connection: close")
    assert response_header_block(big)[0] == b"X-Big: " + b"v" * 4000 + b"\r\n"
    assert all(len(k) <= 2048 for k in headers._BLOCKS)  # large heads are not kept


def test_alternating_heads_each_get_their_own_result() -> None:
    a = head(b"Date: a", b"Content-Length: 1")
    b = head(b"Date: a", b"Transfer-Encoding: chunked", b"Connection: close")
    for _ in range(3):  # the last head first, then the table: never the other's result
        assert response_header_block(a) == (b"Date: a\r\nContent-Length: 1\r\n", True, False)
        assert response_header_block(a)[1] is True
        assert response_header_block(b) == (b"Date: a\r\n", False, True)


@pytest.mark.parametrize("lines", [
    [b"Accept: a\r\n", b"Ocp-Apim-Subscription-Key: k\r\n", b"X: y\r\n"],
    [b"ocp-apim-subscription-key: k\r\n", b"ocp-apim-subscription-key: k2\r\n"],
    [b"Ocp-Apim-Subscription-Keys: k\r\n", b"Ocp-Apim-Subscription-Ke: k\r\n",
     b"X-Value: Ocp-Apim-Subscription-Key: k\r\n"],
    [],
])
def test_without_one_field_removes_exactly_the_lines_of_that_name(lines: list[bytes]) -> None:
    name = b"ocp-apim-subscription-key"
    expected = [line for line in lines if line.split(b":", 1)[0].lower() != name]
    assert without_fields(lines, {name}) == expected
    assert without_fields(lines, {name, b"x-other"}) == expected

"""request_head: the upstream request head built from what policies left."""

import pytest

from kubegate.compile.backends import parse_backend
from kubegate.policies.errors import BackendError
from kubegate.proxy.forward import request_head

BACKEND = parse_backend("http://10.0.0.5:8080/base", "test")


def test_head_drops_gateway_fields_and_frames_the_body() -> None:
    head = request_head("POST", BACKEND, "/items?x=1",
                        [("Host", "client"), ("X-A", "1"), ("Transfer-Encoding", "chunked")],
                        b"abc", [(b"x-forwarded-for", b"192.0.2.1")])
    assert head == (b"POST /base/items?x=1 HTTP/1.1\r\nhost: 10.0.0.5:8080\r\nX-A: 1\r\n"
                    b"x-forwarded-for: 192.0.2.1\r\ncontent-length: 3\r\n\r\nabc")


@pytest.mark.parametrize("pair", [("X-A", "1\r\nX-Injected: 1"), ("X-A\n", "1"),
                                  ("X-A", "1\n")])
def test_split_headers_are_refused(pair: tuple[str, str]) -> None:
    with pytest.raises(BackendError) as info:
        request_head("GET", BACKEND, "/", [pair], None, [])
    assert info.value.status == 500


def test_split_forwarded_values_are_refused() -> None:
    with pytest.raises(BackendError):
        request_head("GET", BACKEND, "/", [], None, [(b"x-forwarded-host", b"a\r\nb: c")])

"""forward-request follow-redirects and redirect-content-urls through a real gateway:
both need the backend URL the data plane gives policies (`context.Api.ServiceUrl`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from e2e_support import Gateway, gateway_config, request

pytestmark = pytest.mark.e2e


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        port = self.server.server_address[1]
        if self.path.startswith("/base/start"):
            self.send_response(302)
            self.send_header("Location", "/base/final?via=redirect")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"at {self.path} see http://127.0.0.1:{port}/base/items/7".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


POLICY = """<policies><inbound /><backend><forward-request follow-redirects="true" /></backend>
<outbound><redirect-content-urls /></outbound><on-error /></policies>"""


def test_redirect_followed_and_urls_rewritten(redirecting: int,
                                              make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(gateway_config([{"name": "r", "path": "/r",
                                       "backend": f"http://127.0.0.1:{redirecting}/base",
                                       "policy": POLICY}]))
    resp = request(gw.port, "GET", "/r/start")
    assert resp.status == 200
    text = resp.body.decode()
    assert text.startswith("at /base/final?via=redirect see ")
    assert text.endswith(f"127.0.0.1:{gw.port}/r/items/7"), text

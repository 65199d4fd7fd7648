"""forward-request follow-redirects and redirect-content-urls through a real gateway:
both need the backend URL the data plane gives policies (`context.Api.ServiceUrl`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from e2e_support import Gateway, gateway_config, request

pytestmark = pytest.mark.e2e


class Handler(BaseHTTPRequestHandler):
    other = 0  # the port of a second server (another origin)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        port = self.server.server_address[1]
        if self.path.startswith("/base/start"):
            self.redirect("/base/final?via=redirect")
            return
        if self.path.startswith("/base/away"):
            self.redirect(f"http://127.0.0.1:{Handler.other}/headers")
            return
        if self.path.startswith("/base/metadata"):
            self.redirect("http://169.254.169.254/latest/meta-data/")
            return
        if self.path.startswith("/base/slow"):
            time.sleep(0.6)
            self.redirect("/base/slow")
            return
        if self.path.startswith("/headers"):
            body = json.dumps(dict(self.headers.items())).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
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
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    Handler.other = servers[1].server_address[1]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers[0].server_address[1]
    for server in servers:
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


SAFE_POLICY = """<policies><inbound><set-header name="X-Backend-Secret" exists-action="override">
<value>s3cr3t</value></set-header></inbound>
<backend><forward-request follow-redirects="true" timeout="2" /></backend>
<outbound /><on-error /></policies>"""


def test_redirect_safety(redirecting: int, make_gateway: Callable[..., Gateway]) -> None:
    """Another origin gets only safe headers; link-local targets are not followed; one
    deadline covers the whole chain."""
    gw = make_gateway(gateway_config([{"name": "r", "path": "/r",
                                       "backend": f"http://127.0.0.1:{redirecting}/base",
                                       "policy": SAFE_POLICY}]))
    resp = request(gw.port, "GET", "/r/away", headers={
        "Cookie": "s=1", "Authorization": "Bearer t", "Accept": "text/plain"})
    assert resp.status == 200
    seen = {k.lower(): v for k, v in json.loads(resp.body).items()}
    assert seen["accept"] == "text/plain"
    for name in ("cookie", "authorization", "x-backend-secret"):
        assert name not in seen, seen
    resp = request(gw.port, "GET", "/r/metadata")
    assert resp.status == 302  # returned to the client, not followed
    started = time.monotonic()
    resp = request(gw.port, "GET", "/r/slow")
    assert resp.status == 504 and time.monotonic() - started < 4

"""Browser end to end: headless Debian chromium driven by Playwright.

A tiny backend, a real `kubegate run` gateway in front of it, and the admin app
(portal + console) on uvicorn. Screenshots go to test-artifacts/admin/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from kubegate.admin.app import AdminState, create_app
from kubegate.admin.auth import AdminAuth
from kubegate.admin.context import AdminContext
from kubegate.observability import RequestMetrics
from kubegate.sources.yaml_config import load_config
from kubegate.store import Store

from .conftest import TOKEN

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin"
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not "
                                 "installed (apt-get install chromium)")]


class Backend(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"hello": "world",
                           "key": self.headers.get("Ocp-Apim-Subscription-Key")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    for _ in range(200):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(port)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    gw_port, gw_admin, admin_port = free_port(), free_port(), free_port()
    cfg = tmp_path / "kubegate.yaml"
    cfg.write_text(f"""gateway:
  listeners: [{{address: "127.0.0.1:{gw_port}"}}]
  admin: "127.0.0.1:{gw_admin}"
apis:
  - name: echo
    path: /echo
    backend: http://127.0.0.1:{backend.server_address[1]}
    operations:
      - {{method: GET, path: /hello, id: hello}}
""")
    gateway = subprocess.Popen([sys.executable, "-m", "kubegate", "run", "-c", str(cfg)],
                               cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    store = Store(f"sqlite:///{tmp_path / 'kg.db'}")
    store.products.create("starter", display_name="Starter", apis=["echo"])
    metrics = RequestMetrics()
    ctx = AdminContext(store=store, declared=lambda: load_config(cfg), base_dir=tmp_path,
                       auth=AdminAuth(TOKEN), metrics=lambda: metrics,
                       gateway_url=f"http://127.0.0.1:{gw_port}")
    app = create_app(AdminState(dict, lambda: True, ctx))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=admin_port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(gw_port, gateway)
        wait_port(admin_port)
        yield {"admin": f"http://127.0.0.1:{admin_port}", "metrics": metrics, "store": store}
    finally:
        server.should_exit = True
        gateway.terminate()
        gateway.wait(10)
        thread.join(10)
        backend.shutdown()
        store.close()


def test_signup_subscribe_try_it_and_console(stack: dict[str, Any]) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin = stack["admin"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{admin}/portal/signup")
        page.fill("input[name=email]", "dev@example.com")
        page.fill("input[name=password]", "correct horse")
        page.click("#submit")
        page.wait_for_selector("#message")
        page.screenshot(path=str(ARTIFACTS / "1-signed-up.png"))
        page.click("#subscribe-starter")
        key = page.inner_text("#primary-key")
        assert len(key) == 32
        page.screenshot(path=str(ARTIFACTS / "2-keys.png"))

        page.goto(f"{admin}/portal/apis/echo")
        assert page.input_value("#subscription-key") == key
        page.click(".opblock-summary")
        page.click("button.try-out__btn")
        page.click("button.execute")
        page.wait_for_selector(".live-responses-table .highlight-code")
        assert page.inner_text(".live-responses-table tr.response .response-col_status").strip() == "200"
        body = page.inner_text(".live-responses-table")
        assert "world" in body and key in body  # went through the gateway with the key
        page.screenshot(path=str(ARTIFACTS / "3-try-it.png"), full_page=True)

        # The data plane records metrics once wired (kubegate.observability.RequestMetrics);
        # until then the test records the call it just made through the same API.
        sub = stack["store"].subscriptions.list()[0]
        stack["metrics"].observe("echo", "hello", 200, sub.id, 0.004, 0.002)

        page.goto(f"{admin}/console")
        page.fill("input[name=token]", TOKEN)
        page.click("#login")
        row = page.wait_for_selector('#traffic-apis tr[data-api="echo"] .requests')
        assert row is not None and row.inner_text() == "1"
        sub_row = page.inner_text(f'#traffic-subscriptions tr[data-subscription="{sub.id}"]')
        assert "1" in sub_row
        page.screenshot(path=str(ARTIFACTS / "4-console.png"), full_page=True)

        page.goto(f"{admin}/portal/account")
        assert page.inner_text(".usage-requests") == "1"
        browser.close()

"""Browser end to end: headless Debian chromium driven by Playwright.

A tiny backend and a real `kubegate run` gateway in front of it, serving the portal
and console on its admin port from the store it shares with the test: the key made
in the portal opens the API, and the console shows the gateway's own traffic.
Screenshots go to test-artifacts/admin/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

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


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None,
              timeout: float = 30.0) -> None:
    """Wait for a listener (a loaded machine may take a while to start the gateway)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(port)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """One `kubegate run` process: data plane, admin app (portal, console) and the
    subscriptions store it shares with this test, in front of a tiny backend."""
    backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    gw_port, admin_port = free_port(), free_port()
    db = tmp_path / "kg.db"
    store = Store(f"sqlite:///{db}")
    store.products.create("starter", display_name="Starter", apis=["echo"])
    cfg = tmp_path / "kubegate.yaml"
    cfg.write_text(f"""gateway:
  listeners: [{{address: "127.0.0.1:{gw_port}"}}]
  admin: "127.0.0.1:{admin_port}"
  store: "sqlite:///{db}"
apis:
  - name: echo
    path: /echo
    backend: http://127.0.0.1:{backend.server_address[1]}
    subscription_required: true
    operations:
      - {{method: GET, path: /hello, id: hello}}
""")
    gateway = subprocess.Popen([sys.executable, "-m", "kubegate", "run", "-c", str(cfg)],
                               cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(ROOT),
                                    "KUBEGATE_ADMIN_TOKEN": TOKEN})
    try:
        wait_port(gw_port, gateway)
        wait_port(admin_port, gateway)
        yield {"admin": f"http://127.0.0.1:{admin_port}", "gateway": f"http://127.0.0.1:{gw_port}",
               "store": store}
    finally:
        gateway.terminate()
        gateway.wait(10)
        backend.shutdown()
        store.close()


def call_until_admitted(url: str, key: str, timeout: float = 30.0) -> int:
    """Call with the new key until the gateway's key index has it; the number of 200s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        req = urllib.request.Request(url, headers={"Ocp-Apim-Subscription-Key": key})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return 1
        except urllib.error.HTTPError as exc:
            assert exc.code == 401, exc.code
        time.sleep(0.1)
    raise TimeoutError("the key never became usable at the gateway")


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

        admitted = call_until_admitted(f"{stack['gateway']}/echo/hello", key)
        page.goto(f"{admin}/portal/apis/echo")
        assert page.input_value("#subscription-key") == key
        page.click(".opblock-summary")
        page.click("button.try-out__btn")
        page.click("button.execute")
        page.wait_for_selector(".live-responses-table .highlight-code")
        assert page.inner_text(".live-responses-table tr.response .response-col_status").strip() == "200"
        body = page.inner_text(".live-responses-table")
        # the API requires a key: 200 means the gateway admitted this one (and, like APIM,
        # did not pass it on to the backend)
        assert "world" in body and '"key": null' in body
        page.screenshot(path=str(ARTIFACTS / "3-try-it.png"), full_page=True)

        sub = stack["store"].subscriptions.list()[0]
        page.goto(f"{admin}/console")
        page.fill("input[name=token]", TOKEN)
        page.click("#login")
        row = page.wait_for_selector('#traffic-apis tr[data-api="echo"] .requests')
        assert row is not None and int(row.inner_text()) >= admitted + 1  # 401s while waiting
        sub_row = page.inner_text(f'#traffic-subscriptions tr[data-subscription="{sub.id}"]')
        assert str(admitted + 1) in sub_row  # the wait's admitted call and "try it"
        page.screenshot(path=str(ARTIFACTS / "4-console.png"), full_page=True)

        for _ in range(50):  # the page reads the gateway's live counters
            page.goto(f"{admin}/portal/account")
            usage = page.inner_text(".usage-requests")
            if usage == str(admitted + 1):
                break
            time.sleep(0.1)
        assert usage == str(admitted + 1), (usage, sub_row, page.inner_text("main"))
        browser.close()

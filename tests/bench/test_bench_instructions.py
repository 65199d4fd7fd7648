"""bench/instructions.py: its load client and its refusal without valgrind."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench import instructions
from bench.scenarios import Scenario


class Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []
    status = 200

    def do_GET(self) -> None:  # noqa: N802
        Counting.seen.append(self.headers.get("X-Key", ""))
        body = b'{"ok":true}'
        self.send_response(Counting.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Any:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Counting.seen, Counting.status = [], 200
    yield srv
    srv.shutdown()


def test_send_makes_every_request_on_keep_alive_connections(server: Any) -> None:
    sc = Scenario("s", "kubegate", config="x", headers={"X-Key": "k"})
    instructions.send(server.server_address[1], sc, 40, 4)
    assert Counting.seen == ["k"] * 40


def test_send_fails_on_an_error_status(server: Any) -> None:
    Counting.status = 401
    with pytest.raises(RuntimeError, match="401"):
        instructions.send(server.server_address[1], Scenario("s", "kubegate", config="x"), 4, 2)


def test_without_valgrind_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.main([]) == 2
    assert "apt-get install valgrind" in capsys.readouterr().err

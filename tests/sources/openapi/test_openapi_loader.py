from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegate.model.errors import ConfigError
from kubegate.sources.openapi.importer import import_api
from kubegate.sources.openapi.loader import parse_text

SWASHBUCKLE = {
    "openapi": "3.0.1",
    "info": {"title": "Orders", "version": "v1"},
    "paths": {"/api/orders": {"get": {"responses": {"200": {"description": "ok"}}},
                              "post": {"responses": {"200": {"description": "ok"}}}}},
}  # fmt: skip


def test_bom_json_and_yaml(tmp_path: Path) -> None:
    j = tmp_path / "s.json"
    j.write_text(json.dumps(SWASHBUCKLE), encoding="utf-8-sig")
    assert j.read_bytes().startswith(b"\xef\xbb\xbf")
    y = tmp_path / "s.yaml"
    y.write_text(
        "\ufeff    openapi: 3.0.1\n    info: {title: T, version: '1'}\n    paths:\n      /a:\n        get: {}\n",
        encoding="utf-8",
    )
    assert import_api(str(j), path="/o").summary.operation_count == 2
    assert import_api(str(y), path="/o").summary.operation_count == 1


def test_yaml_12_semantics() -> None:
    assert parse_text("a: yes\nb: on\nc: true\n200: x\nd: 2024-01-15\n", "f") == {
        "a": "yes", "b": "on", "c": True, "200": "x", "d": "2024-01-15",
    }  # fmt: skip


def test_invalid_json_is_rejected_with_position() -> None:
    with pytest.raises(ConfigError) as info:
        parse_text('{"a": 1,\n}', "bad.json")
    (problem,) = info.value.problems
    assert problem.line == 2 and "invalid JSON" in problem.message


def test_invalid_yaml_has_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_text("a: [1, 2\nb: 3\n", "bad.yaml")
    assert info.value.problems[0].line is not None


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        import_api("/nonexistent/swagger.json", path="/o")


@pytest.fixture
def server() -> Iterator[str]:
    body = json.dumps(SWASHBUCKLE).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path != "/swagger/v1/swagger.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_import_by_url_uses_spec_origin(server: str) -> None:
    result = import_api(f"{server}/swagger/v1/swagger.json", path="/orders", timeout=5)
    assert result.summary.operation_count == 2
    assert result.api.backend == server
    assert result.summary.backend_reason.startswith("origin of the spec URL")
    assert result.spec.fetched


def test_url_http_error(server: str) -> None:
    with pytest.raises(ConfigError, match="HTTP 404"):
        import_api(f"{server}/nope.json", path="/orders", timeout=5)

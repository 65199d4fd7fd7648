"""The CLI as a user runs it: `kubegate validate` and `kubegate demo`."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from e2e_support import REPO, request

pytestmark = pytest.mark.e2e

BROKEN = """\
gateway:
  listeners:
    - address: "127.0.0.1:8080"
apis:
  - name: good
    path: /good
    backend: http://127.0.0.1:9000
  - name: bad
    path: /bad
    backend: ftp://example.com
    operations:
      - {method: FETCH, path: /x}
"""


def kubegate(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegate", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_validate_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "kubegate.yaml"
    path.write_text(BROKEN)
    result = kubegate("validate", "-c", str(path))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert f"{path}:10" in out and "apis[1].backend" in out
    assert f"{path}:12" in out and "FETCH" in out


def test_validate_accepts_a_good_config(tmp_path: Path) -> None:
    path = tmp_path / "kubegate.yaml"
    path.write_text(BROKEN.replace("ftp://example.com", "http://127.0.0.1:9001")
                    .replace("FETCH", "GET"))
    result = kubegate("validate", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def demo_requests(lines: list[str]) -> list[tuple[str, str, dict[str, str], bytes]]:
    """The curl commands the demo printed, as (method, url, headers, body)."""
    out = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words or words[0] != "curl":
            continue
        method, url, headers, body = "GET", "", {}, b""
        it = iter(words[1:])
        for word in it:
            if word == "-X":
                method = next(it)
            elif word == "-H":
                name, _, value = next(it).partition(":")
                headers[name.strip()] = value.strip()
            elif word == "-d":
                body = next(it).encode()
            elif word.startswith("http"):
                url = word
        out.append((method, url, headers, body))
    return out


def test_demo_serves_its_printed_curl_commands(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubegate", "demo", "--port", "0", "--admin-port", "0",
         "--config-dir", str(tmp_path)],
        cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        printed: list[str] = []
        deadline = time.monotonic() + 15
        while not any("Ctrl-C" in x for x in printed) and time.monotonic() < deadline:
            try:
                printed.append(lines.get(timeout=0.2))
            except queue.Empty:
                assert proc.poll() is None, "".join(printed)
        text = "".join(printed)
        assert "gateway on http://127.0.0.1:" in text, text
        calls = demo_requests(printed)
        assert len(calls) >= 5, text
        for method, url, headers, body in calls:
            parts = urllib.parse.urlsplit(url)
            assert parts.port
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            r = request(parts.port, method, path, body=body, headers=headers, timeout=5)
            if parts.path == "/nowhere":
                assert r.status == 404 and r.json()["statusCode"] == 404
            else:
                assert 200 <= r.status < 300, (method, url, r.status, r.body[:200])
                assert r.json() is not None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        reader.join(5)  # stdout reaches EOF once the demo exited
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert "stopped" in "".join(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)

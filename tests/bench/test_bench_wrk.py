import json
import re
import shutil
from pathlib import Path

import pytest

from bench import wrk

TEXT = """\
Running 1s test @ http://127.0.0.1:35905/items/1
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.38ms  543.57us   7.82ms   78.51%
    Req/Sec    18.78k     0.85k   19.53k    80.00%
  Latency Distribution
     50%  643.00us
     75%    1.54ms
     90%    1.72ms
     99%    1.07s
  37360 requests in 2.00s, 12.58MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 17
Requests/sec:  18680.00
Transfer/sec:     12.51MB
"""


def test_text_output_with_units_and_errors() -> None:
    r = wrk.parse_output(TEXT)
    assert r.requests == 37360
    assert r.duration_s == pytest.approx(2.0)
    assert r.rps == pytest.approx(18680)
    assert r.p50_ms == pytest.approx(0.643)
    assert r.p99_ms == pytest.approx(1070)
    assert (r.socket_errors, r.status_errors, r.timeouts) == (10, 17, 4)
    assert r.errors == 27


def test_text_output_without_error_lines() -> None:
    text = re.sub(r"  (Socket errors|Non-2xx).*\n", "", TEXT)
    r = wrk.parse_output(text)
    assert (r.socket_errors, r.status_errors) == (0, 0)


def test_json_line_wins_over_text() -> None:
    line = (
        'WRK_JSON {"requests":41083,"duration_us":1018855,"bytes":14502299,"connect":0,'
        '"read":1,"write":0,"status":5,"timeout":2,"p50_us":928,"p90_us":3764,'
        '"p99_us":8497,"max_us":12720,"mean_us":1577.12}'
    )
    r = wrk.parse_output(TEXT + line + "\n")
    assert r.requests == 41083
    assert r.rps == pytest.approx(41083 / 1.018855)
    assert (r.p50_ms, r.p99_ms) == (pytest.approx(0.928), pytest.approx(8.497))
    assert (r.socket_errors, r.status_errors, r.timeouts) == (3, 5, 2)


def test_lua_script_prints_every_key_the_parser_reads() -> None:
    fmt = re.search(r"'WRK_JSON (.*?)\\n'", wrk.DONE_SCRIPT.replace("' ..\n    '", ""))
    assert fmt is not None
    sample = re.sub(r"%(\.2f|d)", "1", fmt.group(1))
    keys = set(json.loads(sample))
    assert {"requests", "duration_us", "connect", "read", "write", "status", "timeout"} <= keys
    assert {"p50_us", "p99_us"} <= keys
    r = wrk.parse_output("WRK_JSON " + sample)
    assert r.requests == 1


@pytest.mark.parametrize("text", ["", "garbage\n", "  10 requests in 1.00s, 1KB read\n"])
def test_unparseable_output_raises(text: str) -> None:
    with pytest.raises(ValueError):
        wrk.parse_output(text)


def test_command_has_threads_connections_headers_script(tmp_path: Path) -> None:
    script = wrk.write_script(tmp_path)
    assert script.read_text() == wrk.DONE_SCRIPT
    cmd = wrk.command(
        "http://127.0.0.1:1/api/items/1",
        connections=64,
        duration_s=2.6,
        headers={"Ocp-Apim-Subscription-Key": "k1"},
        script=script,
        wrk="/usr/bin/wrk",
    )
    assert cmd[:4] == ["/usr/bin/wrk", "-t2", "-c64", "-d3s"]
    assert cmd[cmd.index("-H") : cmd.index("-H") + 2] == ["-H", "Ocp-Apim-Subscription-Key: k1"]
    assert cmd[cmd.index("-s") + 1] == str(script)
    assert cmd[-1] == "http://127.0.0.1:1/api/items/1"


def test_command_never_uses_more_threads_than_connections() -> None:
    assert "-t1" in wrk.command("http://127.0.0.1:1/", connections=1, duration_s=1)


def test_vary_script_randomises_the_last_segment(tmp_path: Path) -> None:
    plain = wrk.write_script(tmp_path).read_text()
    assert "request = function" not in plain  # fixed path: wrk's own request
    varied = wrk.write_script(tmp_path, "/svc0500/res10/", name="v").read_text()
    assert varied.startswith('PREFIX = "/svc0500/res10/"')
    assert "math.random" in varied and "thread:set" in varied
    assert wrk.DONE_SCRIPT in varied  # still prints the JSON summary


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_vary_script_sends_distinct_paths(tmp_path: Path) -> None:
    """Run the script against a tiny server: every request path differs."""
    import http.server
    import subprocess
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = wrk.write_script(tmp_path, "/a/b/", name="v")
        url = f"http://127.0.0.1:{server.server_address[1]}/a/b/1"
        subprocess.run(wrk.command(url, connections=2, duration_s=1, script=script),
                       capture_output=True, timeout=30, check=True)
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen) > 20 and all(p.startswith("/a/b/") for p in seen)
    assert len(set(seen)) > 0.9 * len(seen)

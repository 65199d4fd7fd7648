import asyncio
import io
import json

import pytest

from kubegate.observability import AccessLog
from kubegate.observability.access_log import FIELDS


def test_lines_are_json_with_fields() -> None:
    out = io.StringIO()
    log = AccessLog(out, clock=lambda: 1700000000.25)
    log.log("rid1", "10.0.0.1", "pets", "get-pet", "alice", 200, 10, 250, 0.0123, 0.01)
    assert out.getvalue() == ""  # buffered
    log.flush()
    entry = json.loads(out.getvalue())
    assert entry["time"] == "2023-11-14T22:13:20.250Z"
    assert entry["request_id"] == "rid1" and entry["client_ip"] == "10.0.0.1"
    assert entry["status"] == 200 and entry["bytes_out"] == 250
    assert entry["duration_ms"] == 12.3 and entry["subscription"] == "alice"


def test_sampling_keeps_errors() -> None:
    out = io.StringIO()
    draws = iter([0.9, 0.1, 0.9])
    log = AccessLog(out, sample=0.5, rand=lambda: next(draws))
    for status in (200, 200, 200):
        log.log("r", "ip", "a", "o", None, status, 0, 0, 0.0, 0.0)
    log.log("r", "ip", "a", "o", None, 502, 0, 0, 0.0, 0.0)  # kept without a draw
    log.flush()
    assert [json.loads(x)["status"] for x in out.getvalue().splitlines()] == [200, 502]


def test_buffer_bound_counts_drops() -> None:
    out = io.StringIO()
    log = AccessLog(out, max_buffer=2)
    for _ in range(5):
        log.log("r", "ip", "a", "o", None, 200, 0, 0, 0.0, 0.0)
    log.flush()
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(lines) == 2 and lines[0]["dropped"] == 3


def test_invalid_sample() -> None:
    with pytest.raises(ValueError):
        AccessLog(io.StringIO(), sample=2)


async def test_run_flushes_in_background(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "access.log"
    log = AccessLog(str(path), interval=0.01)
    task = asyncio.create_task(log.run())
    log.log("r", "ip", "a", "o", None, 200, 0, 0, 0.0, 0.0)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if path.read_text():
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    log.close()
    assert len(path.read_text().splitlines()) == 1


def test_names_needing_escapes_stay_valid_json() -> None:
    out = io.StringIO()
    log = AccessLog(out, clock=lambda: 1700000000.999)
    odd = 'op "quoted"\\ \u00e9\n'
    log.log('rid"x', "::1", "pets", odd, 'sub "s"', 0, 1, 2, 1e-7, 2.5)
    log.log("r2", "10.0.0.1", "pets", odd, None, 503, 0, 0, 3.0, 0.0)
    log.flush()
    first, second = (json.loads(x) for x in out.getvalue().splitlines())
    assert first["operation"] == odd and first["request_id"] == 'rid"x'
    assert first["subscription"] == 'sub "s"' and first["time"] == "2023-11-14T22:13:20.999Z"
    assert first["duration_ms"] == 0.0 and first["backend_ms"] == 2500.0
    assert second["subscription"] is None and second["duration_ms"] == 3000.0
    assert list(first) == list(FIELDS)


def test_time_stamp_follows_the_clock_across_seconds() -> None:
    out = io.StringIO()
    now = [1700000000.5]
    log = AccessLog(out, clock=lambda: now[0])
    log.log("a", "ip", "x", "o", None, 200, 0, 0, 0.0, 0.0)
    now[0] = 1700000061.002
    log.log("b", "ip", "x", "o", None, 200, 0, 0, 0.0, 0.0)
    log.flush()
    times = [json.loads(x)["time"] for x in out.getvalue().splitlines()]
    assert times == ["2023-11-14T22:13:20.500Z", "2023-11-14T22:14:21.002Z"]

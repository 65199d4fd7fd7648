"""Malformed and ambiguous requests from ../shared/corpora/http, through the protocol.

Property checked for every request case: whatever reaches the backend is a
sequence of cleanly framed requests (never Content-Length with
Transfer-Encoding, Transfer-Encoding only `chunked`, no bytes left over), and
for the cases llhttp must reject, nothing after the point of error is forwarded.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httptools
import pytest

from tests.proxy.conftest import make_rig

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "http"
LLHTTP = CORPUS / "nodejs__llhttp" / "cases.jsonl"
SMUGGLING = CORPUS / "mattiasgrenfeldt__bachelors-thesis-http-request-smuggling" / "requests"
CATCH_ALL = {
    "gateway": {"limits": {"max_body_size": 0}},
    "apis": [{"name": "all", "path": "/", "backend": "http://10.9.9.9:9000"}],
}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def _llhttp_cases() -> list[dict[str, object]]:
    if not LLHTTP.exists():
        return []
    cases = [json.loads(line) for line in LLHTTP.read_text().splitlines() if line.strip()]
    return [c for c in cases if c["kind"] == "http" and str(c["type"]).startswith("request")]


def _smuggling_cases() -> list[Path]:
    return sorted(SMUGGLING.rglob("*.req")) if SMUGGLING.exists() else []


class Recorder:
    """Parses what the backend received, strictly, and checks its framing."""

    def __init__(self) -> None:
        self.messages: list[list[tuple[bytes, bytes]]] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self.complete = 0

    def on_message_begin(self) -> None:
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        names = [n for n, _ in self._headers]
        assert not (b"content-length" in names and b"transfer-encoding" in names)
        te = [v for n, v in self._headers if n == b"transfer-encoding"]
        assert te in ([], [b"chunked"])
        assert names.count(b"content-length") <= 1
        self.messages.append(self._headers)

    def on_message_complete(self) -> None:
        self.complete += 1


def run_case(raw: bytes) -> tuple[Recorder, bytes, bool]:
    """Feed `raw` to a client connection; answer each request the backend receives."""
    rig = make_rig(upstreams=8, config=CATCH_ALL)
    rig.send(raw)
    recorder = Recorder()
    parsers = [httptools.HttpRequestParser(recorder) for _ in rig.upstreams]
    answered = 0
    for _ in range(20):  # bounded: each round answers what arrived
        progressed = False
        for index, (up, transport) in enumerate(rig.upstreams):
            sent = transport.take()
            if not sent:
                continue
            progressed = True
            try:
                parsers[index].feed_data(sent)
            except httptools.HttpParserUpgrade:
                continue  # an upgrade request, forwarded as one clean head
            while answered < recorder.complete and not up.closed:
                answered += 1
                rig.reply(OK, index)
        if not progressed:
            break
    assert recorder.complete >= len(recorder.messages) - 1, "forwarded requests left unfinished"
    return recorder, rig.ct.take(), rig.ct.closed


def messages_before_error(case: dict[str, object]) -> int:
    count = 0
    for entry in case["expected_log"]:  # type: ignore[attr-defined]
        if "error code" in entry:
            break
        if entry.endswith("message complete"):
            count += 1
    return count


@pytest.mark.skipif(not LLHTTP.exists(), reason=f"corpus absent: {LLHTTP}")
@pytest.mark.parametrize("case", _llhttp_cases(), ids=lambda c: f"{c['file']}:{c['line']}")
def test_llhttp_request_case(case: dict[str, object]) -> None:
    raw = base64.b64decode(str(case["raw_b64"]))
    recorder, answer, closed = run_case(raw)
    if case["expect_error"] and case["type"] == "request":
        # A streamed head may have left before the body turned out bad; then the
        # backend connection is reset, so no request after the error ever completes.
        assert recorder.complete <= messages_before_error(case)
        assert closed or b" 400 " in answer or not answer


@pytest.mark.skipif(not SMUGGLING.exists(), reason=f"corpus absent: {SMUGGLING}")
@pytest.mark.parametrize("path", _smuggling_cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_smuggling_case_is_refused_or_forwarded_once_cleanly(path: Path) -> None:
    raw = path.read_bytes()
    recorder, answer, closed = run_case(raw)
    # Every file holds one request with Connection: close: never a second one.
    assert recorder.complete <= 1
    if not recorder.messages:  # refused, unless its head is still streaming (a huge chunk)
        assert answer.startswith(b"HTTP/1.1 4") or answer.startswith(b"HTTP/1.1 5") or closed


def test_corpus_counts_are_reported() -> None:
    if not LLHTTP.exists() and not SMUGGLING.exists():
        pytest.skip(f"corpus absent: {CORPUS}")
    refused = forwarded = 0
    for path in _smuggling_cases():
        recorder, _, _ = run_case(path.read_bytes())
        if recorder.complete:
            forwarded += 1
        else:
            refused += 1
    assert refused + forwarded == len(_smuggling_cases())
    assert refused > forwarded  # most of these files are ambiguous on purpose
    print(f"smuggling corpus: {refused} refused, {forwarded} forwarded cleanly")

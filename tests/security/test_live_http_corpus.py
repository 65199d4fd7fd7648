"""Every request case of ../shared/corpora/http through a REAL gateway process to a
recording backend, on raw sockets.

tests/proxy/test_http_corpus.py feeds the same corpus to the protocol object with
fake transports; this file checks the assembled process (listener, workers,
upstream pools, real TCP) and what a client actually sees. Cases run in parallel
over a few (gateway, backend) pairs, once per module; each parametrized test then
checks its own case's outcome.

Properties: whatever the backend receives is cleanly framed (never CL with TE, TE
only `chunked`, one CL, no CR/LF in values) and parses strictly with no leftover
bytes; cases llhttp must reject get a 4xx or a closed connection and no request
after the point of error completes at the backend; each smuggling file (one
request with `Connection: close`) reaches the backend at most once, and exactly
once when the client got a 2xx.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_support import Gateway
from security_support import Answer, RecordingBackend, Seen, exchange

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "http"
LLHTTP = CORPUS / "nodejs__llhttp" / "cases.jsonl"
SMUGGLING = CORPUS / "mattiasgrenfeldt__bachelors-thesis-http-request-smuggling" / "requests"
RIGS = 4


def _llhttp_cases() -> list[dict[str, object]]:
    if not LLHTTP.exists():
        return []
    cases = [json.loads(line) for line in LLHTTP.read_text().splitlines() if line.strip()]
    return [c for c in cases if c["kind"] == "http" and str(c["type"]).startswith("request")]


def _smuggling_cases() -> list[Path]:
    return sorted(SMUGGLING.rglob("*.req")) if SMUGGLING.exists() else []


def _case_id(case: dict[str, object]) -> str:
    return f"{case['file']}:{case['line']}"


def _file_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@dataclass
class Outcome:
    answer: Answer
    seen: list[Seen]
    errors: list[str]

    @property
    def complete(self) -> int:
        return sum(1 for s in self.seen if s.complete)

    def framing_problems(self) -> list[str]:
        return [p for s in self.seen for p in s.problems] + self.errors


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    jobs = [(_case_id(c), base64.b64decode(str(c["raw_b64"]))) for c in _llhttp_cases()]
    jobs += [(_file_id(p), p.read_bytes()) for p in _smuggling_cases()]
    if not jobs:
        pytest.skip(f"corpus absent: {CORPUS}")
    backends = [RecordingBackend() for _ in range(RIGS)]
    gateways: list[Gateway] = []
    try:
        for i, b in enumerate(backends):
            config = {"gateway": {"limits": {"max_body_size": 0}, "timeouts": {"header": 2}},
                      "apis": [{"name": "all", "path": "/", "backend": b.url}]}
            gateways.append(Gateway(tmp_path_factory.mktemp(f"corpus{i}"), config))
        results: dict[str, Outcome] = {}

        def run(rig: int) -> None:
            for key, raw in jobs[rig::RIGS]:
                mark = backends[rig].mark()
                answer = exchange(gateways[rig].port, raw, quiet=0.15)
                seen, errors = backends[rig].since(mark, settle=0.05)
                results[key] = Outcome(answer, seen, errors)

        with ThreadPoolExecutor(RIGS) as pool:
            list(pool.map(run, range(RIGS)))
        yield results
    finally:
        for gw in gateways:
            gw.stop()
        for b in backends:
            b.close()


def _before_error(case: dict[str, object]) -> int:
    count = 0
    for entry in case["expected_log"]:  # type: ignore[attr-defined]
        if "error code" in entry:
            break
        if entry.endswith("message complete"):
            count += 1
    return count


@pytest.mark.skipif(not LLHTTP.exists(), reason=f"corpus absent: {LLHTTP}")
@pytest.mark.parametrize("case", _llhttp_cases(), ids=_case_id)
def test_llhttp_case_live(case: dict[str, object], outcomes: dict[str, Outcome]) -> None:
    out = outcomes[_case_id(case)]
    assert not out.framing_problems(), out.framing_problems()
    if case["expect_error"] and case["type"] == "request":
        assert out.complete <= _before_error(case)
        refused = out.answer.closed or any(400 <= s < 500 for s in out.answer.statuses)
        # or still waiting for the rest of a body it was promised: nothing answered yet
        assert refused or (not out.answer.data and not out.complete), out.answer
    # every response the client got answers a request the backend completed, or is local
    assert out.answer.statuses.count(200) <= out.complete


@pytest.mark.skipif(not SMUGGLING.exists(), reason=f"corpus absent: {SMUGGLING}")
@pytest.mark.parametrize("path", _smuggling_cases(), ids=_file_id)
def test_smuggling_file_live(path: Path, outcomes: dict[str, Outcome]) -> None:
    out = outcomes[_file_id(path)]
    assert not out.framing_problems(), out.framing_problems()
    assert out.complete <= 1, f"{out.complete} requests reached the backend from one"
    statuses = out.answer.statuses
    assert len(statuses) <= 1, f"one request, {len(statuses)} responses: {statuses}"
    if statuses and 200 <= statuses[0] < 300:
        assert out.complete == 1
    elif not out.complete:  # refused, or still reading a (huge) promised body
        assert out.answer.closed or (statuses and statuses[0] >= 400) or not out.answer.data


def test_live_corpus_summary(outcomes: dict[str, Outcome]) -> None:
    smuggling = [outcomes[_file_id(p)] for p in _smuggling_cases()]
    forwarded = sum(1 for o in smuggling if o.complete)
    refused = len(smuggling) - forwarded
    assert refused > forwarded  # most of these files are ambiguous on purpose
    print(f"live smuggling corpus: {refused} refused, {forwarded} forwarded once, cleanly")

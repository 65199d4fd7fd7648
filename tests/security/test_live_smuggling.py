"""Request smuggling, header abuse, request-target forms, path normalisation and
CR/LF injection, through a REAL gateway process to a recording backend.

Each test sends raw bytes, then asserts what the client saw and what the backend
received: nothing smuggled ever reaches the backend as a request of its own, an
API's prefix is never escaped, and an operation's policies run whatever spelling
of its path the client uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from e2e_support import Gateway
from security_support import RecordingBackend, Seen, exchange

pytestmark = pytest.mark.e2e

GUARD = ('<policies><inbound><check-header name="X-Key" failed-check-httpcode="401" '
         'failed-check-error-message="key needed" ignore-case="false"><value>letmein</value>'
         '</check-header><base /></inbound><backend><base /></backend>'
         '<outbound><base /></outbound><on-error><base /></on-error></policies>')
INJECT = ('<policies><inbound><set-header name="X-From-Query" exists-action="override">'
          '<value>@(context.Request.Url.Query.GetValueOrDefault("q",""))</value></set-header>'
          '<set-header name="X-From-Header" exists-action="override">'
          '<value>@(context.Request.Headers.GetValueOrDefault("X-In",""))</value></set-header>'
          '<base /></inbound><backend><base /></backend><outbound><base /></outbound>'
          '<on-error><base /></on-error></policies>')
INJECT_OUT = ('<policies><inbound><base /></inbound><backend><base /></backend><outbound>'
              '<set-header name="X-Echo" exists-action="override">'
              '<value>@(context.Request.Url.Query.GetValueOrDefault("q",""))</value></set-header>'
              '<base /></outbound><on-error><base /></on-error></policies>')


class Rig:
    def __init__(self, gw: Gateway, backend: RecordingBackend, inj: RecordingBackend) -> None:
        self.gw = gw
        self.backend = backend
        self.inj = inj  # its own pool: a split request there cannot poison the others

    def send(self, raw: bytes, backend: RecordingBackend | None = None,
             ) -> tuple[list[int], bool, list[Seen], list[str]]:
        backend = backend or self.backend
        mark = backend.mark()
        answer = exchange(self.gw.port, raw)
        seen, errors = backend.since(mark)
        return answer.statuses, answer.closed, seen, errors

    def control(self) -> None:
        """A clean request on a fresh connection is served, and arrives alone."""
        statuses, _, seen, errors = self.send(
            b"GET /pub/control HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert statuses == [200] and not errors
        assert [s.url for s in seen if s.complete] == [b"/pubbase/control"]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    backend, inj, out = RecordingBackend(), RecordingBackend(), RecordingBackend()
    folder: Path = tmp_path_factory.mktemp("smuggling")
    config = {
        "gateway": {"timeouts": {"header": 2}},
        "apis": [
            {"name": "pub", "path": "/pub", "backend": backend.url + "/pubbase"},
            {"name": "admin", "path": "/admin", "backend": backend.url + "/secret",
             "policy": GUARD},
            {"name": "ops", "path": "/ops", "backend": backend.url + "/opsbase",
             "operations": [{"method": "GET", "path": "/open"},
                            {"method": "GET", "path": "/guarded/{id}", "policy": GUARD}]},
            {"name": "inj", "path": "/inj", "backend": inj.url + "/injbase",
             "policy": INJECT},
            {"name": "injout", "path": "/injout", "backend": out.url + "/injbase",
             "policy": INJECT_OUT},
        ],
    }
    gw = Gateway(folder, config)
    try:
        yield Rig(gw, backend, inj)
    finally:
        gw.stop()
        for b in (backend, inj, out):
            b.close()


SMUGGLED = b"GET /pub/smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
PROBES = {
    "CL.TE": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nContent-Length: 44\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "TE.CL": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(SMUGGLED) + SMUGGLED
              + b"\r\n0\r\n\r\n"),
    "TE.TE xchunked": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n"
                       b"Content-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "TE space before colon": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n"
                              b"Content-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "TE chunked, identity": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\n"
                             b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "TE twice": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                 b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "TE obs-fold": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n"
                    b"Content-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "CL twice differing": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                           b"Content-Length: 41\r\n\r\n" + SMUGGLED),
    "CL with sign": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nContent-Length: +41\r\n\r\n" + SMUGGLED),
    "TE on HTTP/1.0": (b"POST /pub/a HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                       b"Content-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLED),
    "bare LF line ends": (b"POST /pub/a HTTP/1.1\nHost: t\nContent-Length: 41\n"
                          b"Transfer-Encoding: chunked\n\n0\n\n" + SMUGGLED),
    "chunk ext with LF": (b"POST /pub/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"2;a=\nxx\r\n0\r\n\r\n" + SMUGGLED),
    "duplicate Host": b"GET /pub/a HTTP/1.1\r\nHost: t\r\nHost: evil\r\n\r\n" + SMUGGLED,
}


@pytest.mark.parametrize("name", list(PROBES))
def test_smuggling_probe_then_control(rig: Rig, name: str) -> None:
    statuses, closed, seen, errors = rig.send(PROBES[name])
    assert not errors, errors
    assert not [p for s in seen for p in s.problems]
    assert b"/pubbase/smuggled" not in [s.url for s in seen], "smuggled request reached the backend"
    assert len(seen) <= 1
    if not seen:  # refused: 400 and the connection closed
        assert statuses[:1] == [400] and closed, (statuses, closed)
    rig.control()


def test_oversized_and_too_many_headers_refused_then_served(rig: Rig) -> None:
    cases = {
        b"GET /pub/a HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n": 431,
        b"GET /pub/a HTTP/1.1\r\nHost: t\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n": 431,
        b"GET /pub/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n": 414,
    }
    for raw, status in cases.items():
        statuses, closed, seen, _ = rig.send(raw)
        assert not seen
        assert (statuses[:1] == [status] or (not statuses and closed)), (statuses, closed)
    rig.control()


def test_duplicated_ordinary_headers_forwarded_once_each(rig: Rig) -> None:
    raw = (b"GET /pub/dup HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nX-A: 2\r\nConnection: close\r\n\r\n")
    statuses, _, seen, _ = rig.send(raw)
    assert statuses == [200]
    assert len(seen) == 1 and seen[0].header(b"x-a") == [b"1", b"2"]
    assert len(seen[0].header(b"host")) == 1


def test_absolute_form_routes_on_path_and_keeps_backend_host(rig: Rig) -> None:
    statuses, _, seen, _ = rig.send(
        b"GET http://evil.example:81/pub/abs?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert statuses == [200]
    assert [s.url for s in seen] == [b"/pubbase/abs?x=1"]  # origin-form upstream
    assert seen[0].header(b"host") == [f"127.0.0.1:{rig.backend.port}".encode()]
    # absolute-form must not skip an API's policies
    statuses, _, seen, _ = rig.send(
        b"GET http://t/admin/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert statuses == [401] and not seen


@pytest.mark.parametrize("raw", [
    b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
    b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\nSSH-2.0\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET pub/a HTTP/1.1\r\nHost: t\r\n\r\n",
], ids=["connect-ssh", "connect-tls", "asterisk", "relative"])
def test_authority_and_odd_forms_never_tunnel(rig: Rig, raw: bytes) -> None:
    statuses, closed, seen, _ = rig.send(raw)
    assert not seen
    assert closed or (statuses and 400 <= statuses[0] < 500), statuses
    assert 200 not in statuses
    rig.control()


ADMIN_SPELLINGS = ["/pub/../admin/x", "/pub/%2e%2e/admin/x", "/pub/%2E%2E/admin/x",
                   "//admin/x", "/pub/./../admin/x", "/./admin/x", "/admin//x", "/%61dmin/x",
                   "/pub/..%2fadmin/x",
                   "/pub%2f..%2fadmin/x", "/pub/..;/admin/x"]


@pytest.mark.parametrize("path", ADMIN_SPELLINGS)
def test_path_spellings_never_bypass_the_admin_policy(rig: Rig, path: str) -> None:
    raw = b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path.encode()
    statuses, _, seen, _ = rig.send(raw)
    assert not [s for s in seen if s.url.startswith(b"/secret")], "admin reached without its policy"
    for s in seen:  # anything forwarded stays under the API's backend prefix, after decoding
        segments: list[str] = []
        for seg in s.url.split(b"?")[0].decode().replace("%2f", "/").replace("%2F", "/").split("/"):
            if seg == "..":
                assert segments, f"{s.url!r} escapes the backend root"
                segments.pop()
            elif seg not in ("", "."):
                segments.append(seg)
        assert segments[:1] == ["pubbase"], f"{path} forwarded as {s.url!r}"
    assert statuses and statuses[0] in (400, 401, 404) or seen, statuses


@pytest.mark.parametrize("path", ["/ops/guarded/1", "/ops//guarded/1", "/ops/./guarded/1",
                                  "/ops/open/../guarded/1", "/ops/%67uarded/1",
                                  "/ops/guarded/1/", "/ops/guarded//1", "/ops/%2e/guarded/1"])
def test_operation_policy_runs_for_every_spelling(rig: Rig, path: str) -> None:
    raw = b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path.encode()
    statuses, _, seen, _ = rig.send(raw)
    assert not seen, f"{path} reached the backend without X-Key: {[s.url for s in seen]}"
    assert statuses and statuses[0] in (400, 401, 404), statuses
    ok = raw.replace(b"Connection: close", b"X-Key: letmein\r\nConnection: close")
    statuses, _, seen, _ = rig.send(ok)
    if statuses == [200]:
        assert len(seen) == 1 and unquote(seen[0].url.decode()).startswith("/opsbase/guarded/")


CRLF_QUERIES = [b"q=a%0d%0aX-Injected:%20yes", b"q=a%0aX-Injected:%20yes",
                b"q=a%0dX-Injected:%20yes",
                b"q=%0d%0a%0d%0aGET%20/smuggled%20HTTP/1.1%0d%0aHost:%20t%0d%0a%0d%0a"]


@pytest.mark.parametrize("query", CRLF_QUERIES)
def test_crlf_from_query_never_splits_a_policy_set_header(rig: Rig, query: bytes) -> None:
    raw = b"GET /inj/a?%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % query
    statuses, _, seen, errors = rig.send(raw, rig.inj)
    assert not errors, errors
    assert len(seen) <= 1
    for s in seen:
        assert not s.problems, s.problems
        assert not s.header(b"x-injected"), "CR/LF in a policy value split a header"
        assert all(b"\r" not in v and b"\n" not in v for _, v in s.headers)
    assert statuses and (statuses[0] == 200 or 400 <= statuses[0] < 600)


@pytest.mark.parametrize("query", CRLF_QUERIES[:1])
def test_crlf_from_query_never_splits_a_response_header(rig: Rig, query: bytes) -> None:
    answer = exchange(rig.gw.port, b"GET /injout/a?%s HTTP/1.1\r\nHost: t\r\n"
                      b"Connection: close\r\n\r\n" % query)
    head = answer.data.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 ")
    assert b"\nx-injected" not in head and b"\rx-injected" not in head


def test_crlf_from_header_via_obs_text_never_splits(rig: Rig) -> None:
    # a raw CR/LF cannot appear in a header value on the wire; a lone CR must be refused
    raw = b"GET /inj/a HTTP/1.1\r\nHost: t\r\nX-In: a\rX-Injected: yes\r\nConnection: close\r\n\r\n"
    statuses, closed, seen, _ = rig.send(raw, rig.inj)
    assert not [s for s in seen if s.header(b"x-injected")]
    assert (statuses and statuses[0] == 400) or closed or (seen and not seen[0].problems)

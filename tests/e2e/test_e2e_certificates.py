"""Certificates end to end: mutual TLS to a backend (authentication-certificate), client
certificates on an HTTPS listener (validate-client-certificate), and the proxy policy
(absolute-form requests and CONNECT tunnels) through a real HTTP proxy."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import REPO, Backend, Reader, free_port, request, wait_until

from tests.policies.x509_factory import Pki, pem, pfx, thumb, write_pair

pytestmark = pytest.mark.e2e


# -- helpers -----------------------------------------------------------------------------
class TlsBackend:
    """HTTPS on 127.0.0.1 that requires a client certificate from `client_ca`; answers
    JSON naming the client's certificate (CN) and the request path."""

    def __init__(self, folder: Path, pki: Pki) -> None:
        cert, key = pki.issue("backend", ips=["127.0.0.1"], server=True)
        cert_file, key_file = write_pair(folder, "backend", cert, key)
        (folder / "client-ca.pem").write_bytes(pem(pki.cert))
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert_file, key_file)
        self.ctx.load_verify_locations(folder / "client-ca.pem")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            raw.close()
            return
        reader = Reader(conn)  # type: ignore[arg-type]
        with contextlib.suppress(OSError, ssl.SSLError), conn:
            while (head := reader.head()) is not None:
                line, headers = head
                reader.body({k.lower(): v for k, v in headers})
                peer = conn.getpeercert() or {}
                cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn
                           if k == "commonName"), None)
                body = json.dumps({"path": line.split(" ")[1], "client": cn,
                                   "headers": headers}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n" % len(body) + body)

    def close(self) -> None:
        self.sock.close()


class HttpProxy:
    """A forward proxy: absolute-form requests (one per connection) and CONNECT tunnels,
    Basic credentials required; it records what it was asked."""

    def __init__(self, user: str, password: str) -> None:
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.seen: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            reader = Reader(conn)
            head = reader.head()
            if head is None:
                return
            line, headers = head
            self.seen.append(line)
            hmap = {k.lower(): v for k, v in headers}
            if hmap.get("proxy-authorization") != self.auth:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"proxy-authenticate: Basic\r\ncontent-length: 0\r\n\r\n")
                return
            method, target, _ = line.split(" ", 2)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._relay(conn, upstream, reader.rest())
                return
            url = urllib.parse.urlsplit(target)
            body = reader.body(hmap, keep=True)
            upstream = socket.create_connection((url.hostname, url.port or 80), timeout=10)
            lines = [f"{method} {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.1"]
            lines += [f"{k}: {v}" for k, v in headers
                      if k.lower() not in ("proxy-authorization", "connection")]
            upstream.sendall(("\r\n".join([*lines, "connection: close", "", ""])).encode() + body)
            with upstream:
                while data := upstream.recv(65536):
                    conn.sendall(data)

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket, pending: bytes) -> None:
        if pending:
            b.sendall(pending)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=pump, args=(b, a), daemon=True)
        t.start()
        pump(a, b)
        t.join(10)
        b.close()

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def gateway(folder: Path, config: dict[str, Any], env: dict[str, str]) -> Iterator[int]:
    """`kubegate run` with the config's own listeners; yields the admin port."""
    admin = free_port()
    config["gateway"]["admin"] = f"127.0.0.1:{admin}"
    (folder / "kubegate.yaml").write_text(json.dumps(config))
    log = (folder / "gateway.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "kubegate", "run", "-c",
                             str(folder / "kubegate.yaml")], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **env})

    def ready() -> bool:
        try:
            return request(admin, "GET", "/health/ready", timeout=1).status == 200
        except OSError:
            return False
    try:
        assert wait_until(ready, 30), (folder / "gateway.log").read_text()
        yield admin
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def policy(inbound: str, outbound: str = "") -> str:
    return (f"<policies><inbound>{inbound}</inbound><backend><forward-request /></backend>"
            f"<outbound>{outbound}</outbound><on-error /></policies>")


@pytest.fixture
def pki() -> Pki:
    return Pki()


# -- authentication-certificate ------------------------------------------------------------
def test_backend_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    backend = TlsBackend(tmp_path, pki)
    client_cert, client_key = pki.issue("gateway-client")
    write_pair(tmp_path, "client", client_cert, client_key)
    (tmp_path / "ca.pem").write_bytes(pem(pki.cert))
    port = free_port()
    apis = [
        {"name": "by-id", "path": "/by-id", "backend": backend.url,  # streamed response
         "policy": policy('<authentication-certificate certificate-id="backend-client" />')},
        {"name": "by-thumb", "path": "/by-thumb", "backend": backend.url,  # buffered response
         "policy": policy('<authentication-certificate thumbprint="{{client-thumb}}" />',
                          '<set-header name="X-Out" exists-action="override"><value>1</value>'
                          '</set-header>')},
        {"name": "by-body", "path": "/by-body", "backend": backend.url,
         "policy": policy('<authentication-certificate body="{{client-pfx}}" '
                          'password="{{pfx-password}}" />')},
        {"name": "plain", "path": "/plain", "backend": backend.url},
        {"name": "no-cert", "path": "/no-cert", "backend": backend.url,
         "policy": policy('<set-header name="X-A" exists-action="override"><value>1</value>'
                          '</set-header>')},
    ]
    config = {"gateway": {"listeners": [{"address": f"127.0.0.1:{port}"}]}, "apis": apis,
              "certificates": {"backend-client": {"cert_file": "client.crt",
                                                  "key_file": "client.key"}},
              "named_values": {"client-thumb": thumb(client_cert).lower(),
                               "client-pfx": base64.b64encode(
                                   pfx(client_cert, client_key, b"pw")).decode(),
                               "pfx-password": "pw"}}
    try:
        with gateway(tmp_path, config, {"SSL_CERT_FILE": str(tmp_path / "ca.pem")}) as admin:
            for prefix in ("/by-id", "/by-thumb", "/by-body"):
                for _ in range(2):  # the second request reuses the certificate's pool
                    r = request(port, "GET", f"{prefix}/orders/1")
                    assert r.status == 200, (prefix, r.body)
                    assert r.json()["client"] == "gateway-client"
                    assert r.json()["path"] == "/orders/1"
            assert request(port, "GET", "/by-thumb/x").header("X-Out") == "1"
            for prefix in ("/plain", "/no-cert"):
                r = request(port, "GET", f"{prefix}/orders/1")
                assert r.status == 502, (prefix, r.status, r.body)
            assert backend.refused >= 2
            pools = request(admin, "GET", "/status").json()
            assert f"cert {thumb(client_cert)}" in json.dumps(pools)
    finally:
        backend.close()


# -- validate-client-certificate -------------------------------------------------------------
def tls_get(port: int, path: str, ca: Path, cert: tuple[Path, Path] | None) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(*cert)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_listener_client_certificates(tmp_path: Path, pki: Pki, backend: Backend) -> None:
    server = pki.issue("localhost", dns=["localhost"], server=True)
    server_files = write_pair(tmp_path, "server", *server)
    (tmp_path / "ca.pem").write_bytes(pem(pki.cert))
    good = write_pair(tmp_path, "good", *pki.issue("good-client"))
    expired = write_pair(tmp_path, "expired", *pki.issue("good-client", days=(-10, -1)))
    other = write_pair(tmp_path, "other", *pki.issue("other-client"))
    stranger = write_pair(tmp_path, "stranger", *Pki("Stranger CA").issue("good-client"))
    port = free_port()
    checked = policy(
        '<validate-client-certificate validate-revocation="false">'
        '<identities><identity common-name="good-client" /></identities>'
        '</validate-client-certificate>'
        '<set-header name="X-Client" exists-action="override">'
        '<value>@(context.Request.Certificate.Subject + "|" + context.Request.Certificate.Issuer)'
        '</value></set-header>')
    config = {"gateway": {"listeners": [{"address": f"127.0.0.1:{port}", "tls": {
        "certificate": str(server_files[0]), "key": str(server_files[1]),
        "client_certificate": "optional", "client_ca": str(tmp_path / "ca.pem")}}]},
        "apis": [{"name": "checked", "path": "/checked", "backend": backend.url,
                  "policy": checked},
                 {"name": "open", "path": "/open", "backend": backend.url}]}
    ca = tmp_path / "ca.pem"
    with gateway(tmp_path, config, {}):
        status, seen = tls_get(port, "/checked/x", ca, good)
        assert status == 200
        assert dict(seen["headers"])["X-Client"] == (
            "CN=good-client|CN=Test Root CA, O=Kubegate Tests")
        assert tls_get(port, "/open/x", ca, None)[0] == 200  # optional: no certificate is fine
        status, body = tls_get(port, "/checked/x", ca, None)
        assert (status, body["message"]) == (
            403, "Invalid client certificate: no client certificate was presented")
        status, body = tls_get(port, "/checked/x", ca, expired)  # dates are the policy's
        assert status == 403 and "expired on" in body["message"]
        status, body = tls_get(port, "/checked/x", ca, other)
        assert status == 403 and "matches no listed identity" in body["message"]
        with pytest.raises((ssl.SSLError, ConnectionError)):  # not from client_ca: refused
            tls_get(port, "/open/x", ca, stranger)


def test_listener_requiring_client_certificates(tmp_path: Path, pki: Pki,
                                                backend: Backend) -> None:
    server_files = write_pair(tmp_path, "server", *pki.issue("localhost", dns=["localhost"],
                                                            server=True))
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pem(pki.cert))
    good = write_pair(tmp_path, "good", *pki.issue("good-client"))
    port = free_port()
    config = {"gateway": {"listeners": [{"address": f"127.0.0.1:{port}", "tls": {
        "certificate": str(server_files[0]), "key": str(server_files[1]),
        "client_certificate": "required", "client_ca": str(ca)}}]},
        "apis": [{"name": "open", "path": "/open", "backend": backend.url}]}
    with gateway(tmp_path, config, {}):
        assert tls_get(port, "/open/x", ca, good)[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_get(port, "/open/x", ca, None)


# -- proxy -----------------------------------------------------------------------------------
def test_proxy_policy(tmp_path: Path, pki: Pki, backend: Backend) -> None:
    proxy = HttpProxy("admin", "secret123")
    tls_backend = TlsBackend(tmp_path, pki)
    write_pair(tmp_path, "client", *pki.issue("gateway-client"))
    (tmp_path / "ca.pem").write_bytes(pem(pki.cert))
    via = f'<proxy url="http://127.0.0.1:{proxy.port}" username="admin" password="{{{{pw}}}}" />'
    wrong = f'<proxy url="http://127.0.0.1:{proxy.port}" username="admin" password="nope" />'
    cert = '<authentication-certificate certificate-id="c" />'
    port = free_port()
    config = {"gateway": {"listeners": [{"address": f"127.0.0.1:{port}"}]},
              "named_values": {"pw": "secret123"},
              "certificates": {"c": {"cert_file": "client.crt", "key_file": "client.key"}},
              "apis": [
                  {"name": "plain", "path": "/plain", "backend": backend.url + "/base",
                   "policy": policy(via)},
                  {"name": "plain-buffered", "path": "/plain-buffered", "backend": backend.url,
                   "policy": policy(via, '<set-header name="X-Out" exists-action="override">'
                                         '<value>1</value></set-header>')},
                  {"name": "tunnel", "path": "/tunnel", "backend": tls_backend.url,
                   "policy": policy(via + cert)},
                  {"name": "wrong", "path": "/wrong", "backend": tls_backend.url,
                   "policy": policy(wrong + cert)}]}
    try:
        with gateway(tmp_path, config, {"SSL_CERT_FILE": str(tmp_path / "ca.pem")}):
            r = request(port, "GET", "/plain/orders?x=1")
            assert r.status == 200, r.body
            assert r.json()["path"] == "/base/orders" and r.json()["query"] == "x=1"
            assert dict(r.json()["headers"])["host"] == f"127.0.0.1:{backend.port}"
            assert f"GET http://127.0.0.1:{backend.port}/base/orders?x=1 HTTP/1.1" in proxy.seen
            r = request(port, "GET", "/plain-buffered/a")
            assert r.status == 200 and r.header("X-Out") == "1"
            assert f"GET http://127.0.0.1:{backend.port}/a HTTP/1.1" in proxy.seen
            for _ in range(2):
                r = request(port, "GET", "/tunnel/t")
                assert r.status == 200, r.body
                assert r.json()["client"] == "gateway-client" and r.json()["path"] == "/t"
            assert proxy.seen.count(f"CONNECT 127.0.0.1:{tls_backend.port} HTTP/1.1") == 1
            r = request(port, "GET", "/wrong/t")
            assert r.status == 502 and b"407" in r.body
    finally:
        proxy.close()
        tls_backend.close()

"""An HTTPS listener: TLS 1.2+ with the configured certificate, same routing."""

from __future__ import annotations

import datetime
import http.client
import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from e2e_support import REPO, Backend, free_port, gateway_config, wait_until

pytestmark = pytest.mark.e2e


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_https_listener_serves_and_forwards_proto(backend: Backend, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port, admin = free_port(), free_port()
    config = gateway_config([{"name": "s", "path": "/s", "backend": backend.url}],
                            admin=f"127.0.0.1:{admin}",
                            listeners=[{"address": f"127.0.0.1:{port}",
                                        "tls": {"certificate": str(cert), "key": str(key)}}])
    (tmp_path / "kubegate.yaml").write_text(json.dumps(config))
    log = (tmp_path / "log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "kubegate", "run", "-c",
                             str(tmp_path / "kubegate.yaml")], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def ready() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=1)
                conn.request("GET", "/health/ready")
                return conn.getresponse().status == 200
            except OSError:
                return False

        assert wait_until(ready, 30), (tmp_path / "log").read_text()
        ctx = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
        conn.request("GET", "/s/echo/tls")
        response = conn.getresponse()
        seen = json.loads(response.read())
        assert response.status == 200
        assert {k.lower(): v for k, v in seen["headers"]}["x-forwarded-proto"] == "https"
        assert seen["path"] == "/echo/tls"
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # TLS 1.1 at most: refused
        old.load_verify_locations(str(cert))
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, OSError)):
            bad = http.client.HTTPSConnection("localhost", port, context=old, timeout=5)
            bad.request("GET", "/s/echo/x")
            bad.getresponse()
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
        log.close()

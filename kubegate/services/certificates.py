"""Certificates the gateway holds, loaded once per configuration.

How this works: `CertificateStore.load(config, base_dir)` reads every `certificates:`
entry (PEM certificate + key, or PKCS#12) and the `client_ca` bundle of every HTTPS
listener with the `cryptography` package, and indexes the certificates by id and by
SHA-1 thumbprint (upper-case hex, as APIM shows it). A HeldCertificate builds the
client SSLContext for mutual TLS to a backend on first use and keeps it. `ssl` loads
keys only from files, so the key is written encrypted with a random passphrase to a
private temporary file that is removed at once. Certificates given inline
(authentication-certificate `body`) are parsed once and kept in a bounded cache.

Invariant: after `load` a store only changes its inline cache and its CRL cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import ssl
import tempfile
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kubegate.model.config import Config
from kubegate.model.errors import Problem
from kubegate.services.revocation import CrlCache

MAX_INLINE = 64  # distinct inline (body) certificates kept parsed
_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----",
                      re.DOTALL)


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER encoding, upper-case hex: the Thumbprint APIM and .NET show."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - a name, not security


def normalize_thumbprint(text: str) -> str:
    return re.sub(r"[\s:]", "", text).upper()


def _public(obj: Any) -> bytes:
    return bytes(obj.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


class HeldCertificate:
    """A certificate (and its private key, when it has one) the gateway can present."""

    __slots__ = ("id", "certificate", "chain", "key", "thumbprint", "_context")

    def __init__(self, certificate: x509.Certificate, key: Any = None,
                 chain: Iterable[x509.Certificate] = (), id: str | None = None) -> None:
        self.id = id
        self.certificate = certificate
        self.chain = tuple(chain)
        self.key = key
        self.thumbprint = thumbprint(certificate)
        self._context: ssl.SSLContext | None = None
        if key is not None and _public(key.public_key()) != _public(certificate.public_key()):
            raise ValueError("the private key does not belong to the certificate")

    def __repr__(self) -> str:
        return f"HeldCertificate({self.id or 'inline'}, {self.thumbprint})"

    def client_context(self) -> ssl.SSLContext:
        """A default (verifying) client context presenting this certificate."""
        if self._context is None:
            if self.key is None:
                raise ValueError(f"certificate {self.id or self.thumbprint} has no private key")
            ctx = ssl.create_default_context()
            passphrase = secrets.token_hex(32).encode()
            pem = self.key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(passphrase))
            pem += b"".join(c.public_bytes(serialization.Encoding.PEM)
                            for c in (self.certificate, *self.chain))
            with tempfile.TemporaryDirectory(prefix="kubegate-cert-") as folder:  # mode 0700
                path = os.path.join(folder, "client.pem")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                ctx.load_cert_chain(path, password=passphrase)
            self._context = ctx
        return self._context


def from_bytes(data: bytes, password: str | None, id: str | None = None) -> HeldCertificate:
    """A PKCS#12 (PFX) blob, or PEM text holding a certificate (chain) and a key."""
    secret = password.encode() if password else None
    if data.lstrip().startswith(b"-----BEGIN"):
        certs = x509.load_pem_x509_certificates(data)
        found = _PEM_KEY.search(data)
        key = serialization.load_pem_private_key(found.group(0), secret) if found else None
        return HeldCertificate(certs[0], key, certs[1:], id)
    key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
    if cert is None:
        raise ValueError("the PKCS#12 data holds no certificate")
    return HeldCertificate(cert, key, extra or (), id)


def from_files(cert_file: Path, key_file: Path | None, password: str | None,
               id: str | None = None) -> HeldCertificate:
    data = cert_file.read_bytes()
    if key_file is not None:
        data = data + b"\n" + key_file.read_bytes()
    held = from_bytes(data, password, id)
    if key_file is not None and held.key is None:
        raise ValueError(f"no PEM private key in {key_file}")
    return held


class CertificateStore:
    """The configuration's certificates, by id and thumbprint, and the client CAs."""

    def __init__(self, held: Iterable[HeldCertificate] = (),
                 anchors: Iterable[x509.Certificate] = ()) -> None:
        self.by_id = {h.id: h for h in held if h.id is not None}
        self.by_thumbprint = {h.thumbprint: h for h in self.by_id.values()}
        self.anchors = tuple(anchors)  # trusted for client certificates (listeners' client_ca)
        self.crls = CrlCache()
        self.failed: set[str] = set()  # ids that did not load (their problem is reported)
        self._inline: OrderedDict[bytes, HeldCertificate] = OrderedDict()

    @classmethod
    def load(cls, config: Config, base_dir: Path) -> tuple[CertificateStore, list[Problem]]:
        problems: list[Problem] = []
        held: list[HeldCertificate] = []
        failed: set[str] = set()
        for name, entry in config.certificates.items():
            source = entry.cert_file or entry.pfx_file or ""
            path = (base_dir / source).resolve()
            try:
                if entry.pfx_file is not None:
                    held.append(from_bytes(path.read_bytes(), entry.password, name))
                else:
                    key = (base_dir / entry.key_file).resolve() if entry.key_file else None
                    held.append(from_files(path, key, entry.password, name))
            except (OSError, ValueError, TypeError) as exc:
                problems.append(Problem(f"cannot load certificate: {_reason(exc)}", str(path),
                                        field=f"certificates.{name}"))
                failed.add(name)
        anchors: list[x509.Certificate] = []
        for i, listener in enumerate(config.gateway.listeners):
            if listener.tls is None or not listener.tls.client_ca:
                continue
            try:
                anchors += x509.load_pem_x509_certificates(Path(listener.tls.client_ca).read_bytes())
            except (OSError, ValueError) as exc:
                problems.append(Problem(f"cannot load client CA bundle: {_reason(exc)}",
                                        listener.tls.client_ca,
                                        field=f"gateway.listeners[{i}].tls.client_ca"))
        store = cls(held, anchors)
        store.failed = failed
        return store, problems

    def find(self, *, id: str | None = None, thumbprint: str | None = None
             ) -> HeldCertificate | None:
        if id is not None:
            return self.by_id.get(id)
        if thumbprint is not None:
            return self.by_thumbprint.get(normalize_thumbprint(thumbprint))
        return None

    def inline(self, data: bytes, password: str | None) -> HeldCertificate:
        """An authentication-certificate `body`, parsed once (raises ValueError)."""
        key = hashlib.sha256(len(data).to_bytes(8, "big") + data + (password or "").encode()
                             ).digest()
        held = self._inline.get(key)
        if held is None:
            try:
                held = from_bytes(data, password)
            except (ValueError, TypeError) as exc:
                raise ValueError(_reason(exc)) from None
            self._inline[key] = held
            if len(self._inline) > MAX_INLINE:
                self._inline.popitem(last=False)
        else:
            self._inline.move_to_end(key)
        return held

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """Known certificates (client CAs, then configured ones) that signed `cert`."""
        found = []
        for candidate in (*self.anchors, *(h.certificate for h in self.by_id.values())):
            if candidate.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(candidate)
            except Exception:  # ValueError, TypeError, InvalidSignature
                continue
            found.append(candidate)
        return found

    def chains_to_anchor(self, cert: x509.Certificate, depth: int = 8) -> bool:
        """True when issuers lead from `cert` to one of the client CAs."""
        anchors = {c.fingerprint(hashes.SHA256()) for c in self.anchors}
        current = cert
        for _ in range(depth):
            if current.fingerprint(hashes.SHA256()) in anchors:
                return True
            issuers = [i for i in self.issuers_of(current) if i != current and _is_ca(i)]
            if not issuers:
                return False
            current = issuers[0]
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1  # old self-signed roots carry no extensions


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc)
    if "password" in text.lower() or "decrypt" in text.lower():
        return f"wrong or missing password ({text})"
    return text or type(exc).__name__

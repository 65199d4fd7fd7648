"""A throw-away PKI for certificate tests: a root CA, certificates it issues, CRLs, PFX."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)


def name(cn: str, **extra: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, extra["C"])] if "C" in extra else []
    if "O" in extra:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, extra["O"]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


class Pki:
    def __init__(self, cn: str = "Test Root CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = name(cn, O="Kubegate Tests")
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(NOW - datetime.timedelta(days=1))
                     .not_valid_after(NOW + datetime.timedelta(days=365))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, cn: str, *, days: tuple[float, float] = (-1, 30), dns: Iterable[str] = (),
              serial: int | None = None, crl_url: str | None = None, server: bool = False,
              subject: x509.Name | None = None, ips: Iterable[str] = ()
              ) -> tuple[x509.Certificate, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(subject or name(cn))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(serial or x509.random_serial_number())
                   .not_valid_before(NOW + datetime.timedelta(days=days[0]))
                   .not_valid_after(NOW + datetime.timedelta(days=days[1]))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server
                        else ExtendedKeyUsageOID.CLIENT_AUTH]), False))
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
        if crl_url:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), False)
        return builder.sign(self.key, hashes.SHA256()), key

    def crl(self, revoked: Iterable[int] = (), next_update_days: float = 1) -> bytes:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
                   .last_update(NOW - datetime.timedelta(hours=1))
                   .next_update(NOW + datetime.timedelta(days=next_update_days)))
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(NOW - datetime.timedelta(minutes=30)).build())
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Any, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def pfx(cert: x509.Certificate, key: Any, password: bytes | None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(b"client", key, cert, None, encryption)


def write_pair(folder: Path, stem: str, cert: x509.Certificate, key: Any) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(pem(cert))
    key_path.write_bytes(key_pem(key))
    return cert_path, key_path


def thumb(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()

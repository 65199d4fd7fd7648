"""``context.Request.Certificate``: the client's TLS certificate as policies see it.

``X509Certificate`` shows the members of .NET's ``X509Certificate2`` that APIM
policies use (``Thumbprint``, ``Subject``, ``Issuer``, ``SerialNumber``,
``NotBefore``, ``NotAfter``, ``Version``, ``RawData``), formatted as .NET formats
them: names most-specific first (``CN=api, O="Contoso, Inc.", C=US``), thumbprint
and serial number in upper-case hex. The DER bytes are parsed on first use.
``chain_verified`` records that the TLS handshake already verified the chain to
the listener's ``client_ca``.

``parse_dn``/``same_dn`` compare distinguished names written in a policy with a
certificate's, ignoring attribute order, spacing and letter case."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from kubegate.sources.apim.expressions.schema import CONTEXT_MEMBERS

SHORT_NAMES = {
    NameOID.COMMON_NAME: "CN", NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "S", NameOID.STREET_ADDRESS: "STREET",
    NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.EMAIL_ADDRESS: "E", NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER", NameOID.TITLE: "T", NameOID.GIVEN_NAME: "G",
    NameOID.SURNAME: "SN", NameOID.INITIALS: "I", NameOID.POSTAL_CODE: "POSTALCODE",
}
ALIASES = {"ST": "S", "EMAIL": "E", "EMAILADDRESS": "E", "GN": "G", "GIVENNAME": "G",
           "SURNAME": "SN", "TITLE": "T", "STREETADDRESS": "STREET"}
_BY_DOTTED = {oid.dotted_string: short for oid, short in SHORT_NAMES.items()}
_SPECIAL = set(',+="\n<>#;')

DN = tuple[tuple[str, str], ...]


def _attr_name(oid: x509.ObjectIdentifier) -> str:
    return SHORT_NAMES.get(oid, f"OID.{oid.dotted_string}")


def _quote(value: str) -> str:
    if value != value.strip() or any(ch in _SPECIAL for ch in value):
        return '"' + value.replace('"', '""') + '"'
    return value


def format_dn(name: x509.Name) -> str:
    """.NET's X500 form: relative names in reverse order, ``, `` between them."""
    parts = []
    for rdn in reversed(name.rdns):
        parts.append(" + ".join(f"{_attr_name(a.oid)}={_quote(str(a.value))}" for a in rdn))
    return ", ".join(parts)


def dn_of(name: x509.Name) -> DN:
    return tuple(sorted((_attr_name(a.oid), str(a.value).strip().casefold()) for a in name))


def parse_dn(text: str) -> DN:
    """``C=US, O="Contoso, Inc.", CN=x`` -> sorted (NAME, value) pairs; ValueError if malformed."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError(f"expected NAME=value at {text[i:]!r}")
        key = text[i:eq].strip().upper()
        if not key:
            raise ValueError(f"an attribute name is missing before {text[eq:]!r}")
        i = eq + 1
        while i < n and text[i] == " ":
            i += 1
        value: list[str] = []
        if i < n and text[i] == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted value")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        value.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                value.append(text[i])
                i += 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] not in ",;+":
                raise ValueError(f"unexpected {text[i:]!r} after a quoted value")
        else:
            while i < n and text[i] not in ",;+":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
        dotted = key.removeprefix("OID.")
        if dotted[:1].isdigit():
            name = _BY_DOTTED.get(dotted, "OID." + dotted)
        else:
            name = ALIASES.get(key, key)
        pairs.append((name, "".join(value).strip().casefold()))
        i += 1  # the separator
    if not pairs:
        raise ValueError("empty distinguished name")
    return tuple(sorted(pairs))


def serial_hex(serial: int) -> str:
    """The serial number as .NET shows it: the DER integer's bytes in upper-case hex."""
    return serial.to_bytes((serial.bit_length() + 8) // 8, "big").hex().upper()


def same_serial(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return s.replace(" ", "").replace(":", "").upper().lstrip("0") or "0"
    return norm(a) == norm(b)


class X509Certificate:
    __cs_type__ = "X509Certificate2"
    __cs_members__ = CONTEXT_MEMBERS["X509Certificate2"]
    __slots__ = ("der", "chain_verified", "_cert")

    def __init__(self, der: bytes, chain_verified: bool = False) -> None:
        self.der = der
        self.chain_verified = chain_verified
        self._cert: x509.Certificate | None = None

    @classmethod
    def of(cls, cert: x509.Certificate, chain_verified: bool = False) -> X509Certificate:
        from cryptography.hazmat.primitives.serialization import Encoding

        made = cls(cert.public_bytes(Encoding.DER), chain_verified)
        made._cert = cert
        return made

    @property
    def cert(self) -> x509.Certificate:
        if self._cert is None:
            self._cert = x509.load_der_x509_certificate(self.der)
        return self._cert

    @property
    def Thumbprint(self) -> str:  # noqa: N802
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303

    @property
    def Subject(self) -> str:  # noqa: N802
        return format_dn(self.cert.subject)

    @property
    def Issuer(self) -> str:  # noqa: N802
        return format_dn(self.cert.issuer)

    @property
    def SerialNumber(self) -> str:  # noqa: N802
        return serial_hex(self.cert.serial_number)

    @property
    def NotBefore(self) -> datetime:  # noqa: N802
        return self.cert.not_valid_before_utc

    @property
    def NotAfter(self) -> datetime:  # noqa: N802
        return self.cert.not_valid_after_utc

    @property
    def Version(self) -> int:  # noqa: N802
        return self.cert.version.value + 1

    @property
    def RawData(self) -> bytes:  # noqa: N802
        return self.der

    def common_name(self) -> str | None:
        names = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else None

    def dns_names(self) -> list[str]:
        try:
            ext = self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return []
        return [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]

    def __repr__(self) -> str:
        return f"X509Certificate({self.Subject})"

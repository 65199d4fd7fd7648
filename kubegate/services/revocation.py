"""Revocation status of a certificate from the CRLs its own extension names.

How this works: `CrlCache.status(cert, issuer, fetch, now)` reads the certificate's
CRL distribution points (http and https URIs), fetches the first CRL it can get
with `fetch(url) -> bytes` (DER or PEM), checks that the issuer signed it and that
it is current, and keeps it until its nextUpdate (at most `max_age` seconds). A
certificate without such a point, or whose CRLs cannot be fetched or verified, has
an *unknown* status, which callers treat as a failure, as APIM's online revocation
check does. A failed fetch is not retried for `retry_after` seconds; concurrent
checks of one URL share one fetch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

Fetch = Callable[[str], Awaitable[bytes]]


def distribution_points(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in ext:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and \
                    name.value.lower().startswith(("http://", "https://")):
                urls.append(name.value)
    return urls


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


class CrlCache:
    def __init__(self, max_age: float = 3600.0, retry_after: float = 30.0,
                 max_entries: int = 256) -> None:
        self.max_age = max_age
        self.retry_after = retry_after
        self.max_entries = max_entries
        # url -> (valid until, CRL or None, why it is missing)
        self._entries: dict[str, tuple[float, x509.CertificateRevocationList | None, str]] = {}
        self._fetching: dict[str, asyncio.Future[None]] = {}
        self._verified: set[tuple[str, bytes]] = set()  # (url, issuer) checked for this CRL

    async def status(self, cert: x509.Certificate, issuer: x509.Certificate | None,
                     fetch: Fetch, now: float) -> tuple[bool | None, str]:
        """(True, _) not revoked, (False, why) revoked, (None, why) unknown."""
        urls = distribution_points(cert)
        if not urls:
            return None, "the certificate names no http(s) CRL distribution point"
        if issuer is None:
            return None, "the issuer certificate is not known, so its CRL cannot be verified"
        problems = []
        for url in urls:
            crl, why = await self._crl(url, issuer, fetch, now)
            if crl is None:
                problems.append(f"{url}: {why}")
                continue
            revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if revoked is not None:
                return False, f"revoked on {revoked.revocation_date_utc:%Y-%m-%d %H:%M:%S} UTC"
            return True, f"not in the CRL of {url}"
        return None, "; ".join(problems)

    async def _crl(self, url: str, issuer: x509.Certificate, fetch: Fetch, now: float
                   ) -> tuple[x509.CertificateRevocationList | None, str]:
        entry = self._entries.get(url)
        if entry is None or entry[0] <= now:
            pending = self._fetching.get(url)
            if pending is None:
                pending = self._fetching[url] = asyncio.get_running_loop().create_future()
                try:
                    self._store(url, await self._load(url, fetch, now), now)
                finally:
                    del self._fetching[url]
                    pending.set_result(None)
            else:
                await asyncio.shield(pending)
            entry = self._entries.get(url)
            if entry is None:
                return None, "no CRL"
        _, crl, why = entry
        if crl is None:
            return None, why
        signer = (url, issuer.fingerprint(hashes.SHA256()))
        if signer not in self._verified:  # one signature check per CRL and issuer
            key: Any = issuer.public_key()  # an X25519/X448 key cannot have signed it
            if crl.issuer != issuer.subject or not crl.is_signature_valid(key):
                return None, "the CRL is not signed by the certificate's issuer"
            self._verified.add(signer)
        return crl, ""

    async def _load(self, url: str, fetch: Fetch, now: float
                    ) -> tuple[x509.CertificateRevocationList | None, str]:
        try:
            crl = parse_crl(await fetch(url))
        except Exception as exc:  # unreachable, bad status, not a CRL
            return None, f"cannot fetch the CRL ({exc})"
        next_update = crl.next_update_utc
        if next_update is not None and next_update.timestamp() < now:
            return None, f"the CRL is out of date (next update {next_update:%Y-%m-%d %H:%M} UTC)"
        return crl, ""

    def _store(self, url: str, loaded: tuple[x509.CertificateRevocationList | None, str],
               now: float) -> None:
        crl, why = loaded
        if crl is None:
            until = now + self.retry_after
        else:
            next_update = crl.next_update_utc
            until = now + self.max_age
            if next_update is not None:
                until = min(until, next_update.timestamp())
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._verified = {v for v in self._verified if v[0] != url}  # a new CRL: check again
        self._entries[url] = (until, crl, why)

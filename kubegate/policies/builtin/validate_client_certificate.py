"""validate-client-certificate: check the certificate the client presented over TLS.

Attributes (APIM, constants, each default ``true`` but ``ignore-error``):
``validate-revocation``, ``validate-trust``, ``validate-not-before``,
``validate-not-after``, ``ignore-error`` (``false``); ``<identities>`` with
``<identity>`` elements (``thumbprint``, ``serial-number``, ``common-name``,
``subject``, ``dns-name``, ``issuer-subject``, ``issuer-thumbprint``,
``issuer-certificate-id``). The certificate must pass every rule and match every
attribute of at least one identity; otherwise 403 (to on-error), or on with
``ignore-error``. The certificate comes from an HTTPS listener with
``client_certificate: optional|required`` (``context.Request.Certificate``).

* trust: the handshake verified the chain to the listener's ``client_ca``; a
  certificate that did not come that way must chain to those CAs here.
* not-before / not-after: against the request's clock (the handshake leaves
  dates to this policy).
* revocation: the CRLs named by the certificate's CRL distribution points
  (http/https), fetched through the ``"http"`` service and cached until their
  next update; no such point, an unreachable or unverifiable CRL: status unknown,
  which fails (as APIM's online check). OCSP is not consulted.
* issuers: ``issuer-thumbprint`` / ``issuer-certificate-id`` name a certificate
  (client CA or ``certificates:`` entry) that must have signed the certificate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.services.certificates import (
    CertificateStore,
    normalize_thumbprint,
    thumbprint,
)

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ..x509 import X509Certificate, dn_of, parse_dn, same_serial

SOURCE = "validate-client-certificate"
RULES = ("validate-revocation", "validate-trust", "validate-not-before", "validate-not-after")
IDENTITY_ATTRS = ("thumbprint", "serial-number", "common-name", "subject", "dns-name",
                  "issuer-subject", "issuer-thumbprint", "issuer-certificate-id")
Check = Callable[[X509Certificate], bool]


class Invalid(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _identity(el: PolicyElement, c: Compiler, store: CertificateStore | None
              ) -> tuple[list[Check], str]:
    """The checks of one <identity> (all must hold) and a label for messages."""
    c.check_attrs(el, IDENTITY_ATTRS)
    values = {a: (c.const(el, a, "") or "").strip() for a in IDENTITY_ATTRS if a in el.attributes}
    if not values:
        c.problem(el, "needs at least one attribute (" + ", ".join(IDENTITY_ATTRS) + ")")
    if "issuer-certificate-id" in values and ({"issuer-subject", "issuer-thumbprint"} & set(values)):
        c.problem(el, "'issuer-certificate-id' excludes 'issuer-subject' and 'issuer-thumbprint'")
    checks = [chk for name, value in values.items()
              if (chk := _claim(el, c, store, name, value)) is not None]
    return checks, ", ".join(f"{k}={v}" for k, v in values.items())


def _claim(el: PolicyElement, c: Compiler, store: CertificateStore | None, name: str,
           value: str) -> Check | None:
    """One identity attribute as a check of the presented certificate."""
    want = value.casefold()
    if name in ("thumbprint", "issuer-thumbprint"):
        want = normalize_thumbprint(value)
    if name == "thumbprint":
        return lambda x: x.Thumbprint == want
    if name == "serial-number":
        return lambda x: same_serial(x.SerialNumber, value)
    if name == "common-name":
        return lambda x: (x.common_name() or "").casefold() == want
    if name == "dns-name":
        return lambda x: any(d.casefold() == want for d in x.dns_names())
    if name in ("subject", "issuer-subject"):
        try:
            dn = parse_dn(value)
        except ValueError as exc:
            if not (c.env.placeholder_named_values and "{{" in el.attributes[name]):
                c.attr_problem(el, name, f"not a distinguished name: {exc}")
            return None
        if name == "subject":
            return lambda x: dn_of(x.cert.subject) == dn
        return lambda x: dn_of(x.cert.issuer) == dn
    if name == "issuer-thumbprint":
        return lambda x: store is not None and any(
            thumbprint(i) == want for i in store.issuers_of(x.cert))
    held = store.find(id=value) if store is not None else None  # issuer-certificate-id
    if held is None:
        if not c.env.placeholder_named_values and (store is None or value not in store.failed):
            c.attr_problem(el, name, f"no configured certificate has id {value!r}")
        return None
    issuer = held.certificate

    def signed_by(x: X509Certificate) -> bool:
        try:
            x.cert.verify_directly_issued_by(issuer)
        except Exception:  # wrong issuer name, bad signature, key type
            return False
        return True
    return signed_by


@register("validate-client-certificate", sections={"inbound"},
          summary="check the client's TLS certificate (403)")
def compile_validate_client_certificate(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, (*RULES, "ignore-error"))
    c.check_children(el, ("identities",))
    rules = {r: c.const_bool(el, r, True) for r in RULES}
    ignore = c.const_bool(el, "ignore-error", False)
    store: CertificateStore | None = c.env.services.get("certificates")
    http = c.env.services.get("http")
    identities: list[tuple[list[Check], str]] = []
    for group in el.children:
        c.check_children(group, ("identity",))
        identities += [_identity(i, c, store) for i in group.children if i.name == "identity"]

    def check_sync(ctx: Any) -> X509Certificate:
        cert = ctx.Request.Certificate
        if not isinstance(cert, X509Certificate):
            raise Invalid("ClientCertificateMissing", "no client certificate was presented")
        now = ctx.now()
        if rules["validate-not-before"] and now < cert.NotBefore:
            raise Invalid("ClientCertificateNotYetValid",
                          f"the client certificate is not valid before {cert.NotBefore:%Y-%m-%d %H:%M:%S} UTC")
        if rules["validate-not-after"] and now > cert.NotAfter:
            raise Invalid("ClientCertificateExpired",
                          f"the client certificate expired on {cert.NotAfter:%Y-%m-%d %H:%M:%S} UTC")
        if rules["validate-trust"] and not cert.chain_verified and (
                store is None or not store.chains_to_anchor(cert.cert)):
            raise Invalid("ClientCertificateNotTrusted",
                          "the client certificate does not chain to a trusted CA (client_ca)")
        if identities and not any(all(chk(cert) for chk in checks) for checks, _ in identities):
            raise Invalid("ClientCertificateIdentityMismatch",
                          f"the client certificate ({cert.Subject}) matches no listed identity")
        return cert

    async def check_revocation(ctx: Any, cert: X509Certificate) -> None:
        async def fetch(url: str) -> bytes:
            if http is None:
                raise LookupError("no HTTP client service")
            status, _, _, body = await http("GET", url, [], None, 10.0)
            if status != 200:
                raise LookupError(f"status {status}")
            return bytes(body)
        issuers = store.issuers_of(cert.cert) if store is not None else []
        crls = store.crls if store is not None else None
        if crls is None:
            raise Invalid("ClientCertificateRevocationUnknown",
                          "revocation status unknown: no certificate store")
        good, why = await crls.status(cert.cert, issuers[0] if issuers else None, fetch,
                                      ctx.now_seconds())
        if good is False:
            raise Invalid("ClientCertificateRevoked", f"the client certificate is revoked: {why}")
        if good is None:
            raise Invalid("ClientCertificateRevocationUnknown", f"revocation status unknown: {why}")

    def fail(ctx: Any, exc: Invalid) -> None:
        trace(ctx, f"validate-client-certificate: {exc} -> "
                   + ("ignored" if ignore else "403"))
        if not ignore:
            raise PolicyFailure(403, exc.reason, f"Invalid client certificate: {exc}",
                                source=SOURCE) from None

    if not rules["validate-revocation"]:
        def run(ctx: Any) -> None:
            try:
                check_sync(ctx)
            except Invalid as exc:
                fail(ctx, exc)
                return
            trace(ctx, "validate-client-certificate: ok")
        return c.step(el, path, run, rules=rules, identities=[lbl for _, lbl in identities])

    async def run_async(ctx: Any) -> None:
        try:
            await check_revocation(ctx, check_sync(ctx))
        except Invalid as exc:
            fail(ctx, exc)
            return
        trace(ctx, "validate-client-certificate: ok")
    return c.step(el, path, run_async, is_async=True, rules=rules,
                  identities=[lbl for _, lbl in identities])

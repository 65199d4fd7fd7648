"""authentication-certificate: present a client certificate to the backend (mutual TLS).

Exactly one of ``thumbprint`` (SHA-1, hex), ``certificate-id`` (an id of the
configuration's ``certificates:``) or ``body`` (a PKCS#12 blob as ``byte[]``, or
its base64 text; PEM certificate + key also accepted) with ``password``; all
allow expressions. Constant references are resolved at compile time (an unknown
one is an error, except in ``policy check`` placeholder mode); computed ones per
request (unknown: 500 ``CertificateNotFound``; unreadable body: 500
``InvalidCertificate``). The certificate is put in ``context.backend_certificate``;
the data plane then reaches an https backend through a keep-alive pool of its own
(backend + certificate) whose TLS connections present it. An http backend has no
TLS handshake, so nothing is presented there."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.services.certificates import CertificateStore, HeldCertificate, normalize_thumbprint

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, to_text

SOURCE = "authentication-certificate"
_HEX40 = re.compile(r"^[0-9A-F]{40}$")


def certificate_bytes(value: Any) -> bytes:
    """A ``body`` value: ``byte[]`` as is, text as base64 (or PEM)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = to_text(value).strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("body is neither a byte array nor base64 text") from None


def _lookup(store: CertificateStore | None, kind: str, value: str) -> HeldCertificate | None:
    if store is None:
        return None
    return store.find(id=value) if kind == "certificate-id" else store.find(thumbprint=value)


@register("authentication-certificate", sections={"inbound"},
          summary="present a client certificate to the backend (mutual TLS)")
def compile_authentication_certificate(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("thumbprint", "certificate-id", "body", "password"))
    given = [a for a in ("thumbprint", "certificate-id", "body") if a in el.attributes]
    if len(given) != 1:
        c.problem(el, "needs exactly one of 'thumbprint', 'certificate-id' or 'body'")
        return None
    if "password" in el.attributes and given != ["body"]:
        c.attr_problem(el, "password", "only applies to a certificate given in 'body'")
    store: CertificateStore | None = c.env.services.get("certificates")
    placeholder = c.env.placeholder_named_values
    if given == ["body"]:
        return _compile_body(el, c, path, store)
    kind = given[0]
    expr = c.attr(el, kind, "")
    assert expr is not None
    if expr.is_constant:
        ref = str(expr.value).strip()
        if not ref and el.attributes[kind].strip():
            return None  # its expression or named value failed: already reported
        if kind == "thumbprint" and not placeholder and not _HEX40.match(normalize_thumbprint(ref)):
            c.attr_problem(el, kind, f"expected a SHA-1 thumbprint (40 hex digits), got {ref!r}")
            return None
        held = _lookup(store, kind, ref)
        if held is None and store is not None and ref in store.failed:
            return None  # the certificate did not load: that problem is reported
        if held is None and not placeholder:
            known = ", ".join(sorted(store.by_id)) if store is not None and store.by_id else ""
            c.attr_problem(el, kind, f"no configured certificate has {kind} {ref!r} "
                                     f"(configured: {known or 'none, see certificates:'})")
            return None
        if held is not None and held.key is None:
            c.attr_problem(el, kind, f"certificate {held.id!r} has no private key (key_file)")
            return None
        return c.step(el, path, _use(held, f"{kind} {ref}"), certificate=ref)
    value = evaluator(expr)

    def run_expr(ctx: Any) -> None:
        ref = to_text(value(ctx)).strip()
        held = _lookup(store, kind, ref)
        if held is None or held.key is None:
            what = "is not configured" if held is None else "has no private key"
            raise PolicyFailure(500, "CertificateNotFound", f"client certificate with {kind} "
                                f"{ref!r} {what}", source=SOURCE)
        ctx.backend_certificate = held
        trace(ctx, f"authentication-certificate: {kind} {ref} -> {held.thumbprint}")
    return c.step(el, path, run_expr)


def _use(held: HeldCertificate | None, label: str) -> Callable[[Any], None]:
    if held is None:  # placeholder mode (policy check / policy run): nothing to present
        def run_unknown(ctx: Any) -> None:
            trace(ctx, f"authentication-certificate: {label} is not configured (placeholder)")
        return run_unknown

    def run(ctx: Any) -> None:
        ctx.backend_certificate = held
        trace(ctx, f"authentication-certificate: {label} -> {held.thumbprint}")
    return run


def _compile_body(el: PolicyElement, c: Compiler, path: str,
                  store: CertificateStore | None) -> Step:
    expr = c.attr(el, "body", "")
    assert expr is not None
    body = evaluator(expr)
    password = c.attr(el, "password")
    secret = evaluator(password) if password is not None else None
    inline = store if store is not None else CertificateStore()
    if (expr.is_constant and (password is None or password.is_constant)
            and not c.env.placeholder_named_values):
        try:  # a constant body is checked (and parsed once) now
            pw = to_text(password.value) if password is not None else None
            if inline.inline(certificate_bytes(expr.value), pw or None).key is None:
                raise ValueError("the certificate comes without its private key")
        except ValueError as exc:
            c.attr_problem(el, "body", f"not a usable client certificate: {exc}")

    def run(ctx: Any) -> None:
        pw = to_text(secret(ctx)) if secret is not None else None
        try:
            held = inline.inline(certificate_bytes(body(ctx)), pw or None)
            if held.key is None:
                raise ValueError("the certificate comes without its private key")
        except ValueError as exc:
            raise PolicyFailure(500, "InvalidCertificate", f"client certificate in body: {exc}",
                                source=SOURCE) from None
        ctx.backend_certificate = held
        trace(ctx, f"authentication-certificate: body -> {held.thumbprint}")
    return c.step(el, path, run)

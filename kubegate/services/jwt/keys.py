"""Verification keys with their algorithms pinned by key type.

A key is usable only for the algorithms its type allows: symmetric -> HS* (and only those
whose digest is no longer than the key), RSA (>= 2048 bits, odd e >= 3, not ROCA-weak) ->
RS*/PS*, EC -> the one ES* of its curve, Ed25519 -> EdDSA/Ed25519. A JWK "alg" narrows this
to exactly one algorithm; a JWK whose alg contradicts its type is refused. Key sets from the
network (JWKS) may not hold symmetric or private keys, nor two keys with one kid.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from kubegate.services.jwt.rules import KeyKind, SigningKeySpec

HS_ALGS = {"HS256": 32, "HS384": 48, "HS512": 64}
RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
OKP_ALGS = {"Ed25519": frozenset({"EdDSA", "Ed25519"})}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_RSA_BITS = 2048


class UnusableKey(ValueError):
    """A key that cannot be used for verification, with the reason."""


@dataclass(frozen=True)
class VerificationKey:
    key: Key
    algorithms: frozenset[str]
    kid: str | None = None


def _b64url_int(value: str) -> int:
    pad = "=" * (-len(value) % 4)
    try:
        raw = base64.urlsafe_b64decode(value + pad)
    except (binascii.Error, ValueError) as exc:
        raise UnusableKey("RSA n/e are not valid base64url") from exc
    return int.from_bytes(raw, "big")


_ROCA_PRIMES = [p for p in range(3, 168) if all(p % d for d in range(2, p))]
_ROCA_SUBGROUPS = {p: frozenset(pow(65537, i, p) for i in range(p)) for p in _ROCA_PRIMES}


def _roca_weak(n: int) -> bool:
    """ROCA (CVE-2017-15361) fingerprint: n mod p lies in <65537> mod p for small primes p."""
    return all(n % p in sub for p, sub in _ROCA_SUBGROUPS.items())


def check_rsa_public(n: int, e: int) -> None:
    if n.bit_length() < MIN_RSA_BITS:
        raise UnusableKey(f"RSA key of {n.bit_length()} bits is too small (< {MIN_RSA_BITS})")
    if e < 3 or e % 2 == 0:
        raise UnusableKey(f"RSA public exponent {e} is not allowed")
    if _roca_weak(n):
        raise UnusableKey("RSA key has the ROCA weakness (CVE-2017-15361)")


def _pin(allowed: frozenset[str], alg: Any) -> frozenset[str]:
    if alg is None:
        return allowed
    if not isinstance(alg, str) or alg not in allowed:
        raise UnusableKey(f"key alg {alg!r} does not fit the key type (allowed: {sorted(allowed)})")
    return frozenset({alg})


def _symmetric(raw: bytes, alg: Any, kid: str | None) -> VerificationKey:
    algs = frozenset(a for a, size in HS_ALGS.items() if len(raw) >= size)
    if not algs:
        raise UnusableKey(f"symmetric key of {len(raw)} bytes is too short (HS256 needs 32)")
    return VerificationKey(OctKey.import_key(raw), _pin(algs, alg), kid)


def key_from_spec(spec: SigningKeySpec) -> VerificationKey:
    """Turn a configured `<key>` into a verification key; raise UnusableKey if unusable."""
    if spec.kind is KeyKind.SYMMETRIC:
        return _symmetric(base64.b64decode(spec.value, validate=True), None, spec.key_id)
    if spec.kind is KeyKind.RSA:
        return key_from_jwk({"kty": "RSA", "n": spec.n, "e": spec.e}, kid=spec.key_id)
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(spec.value, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise UnusableKey("certificate is not a base64 DER X.509 certificate") from exc
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        nums = public.public_numbers()
        check_rsa_public(nums.n, nums.e)
        return VerificationKey(RSAKey.import_key(public), RSA_ALGS, spec.key_id)
    if isinstance(public, ec.EllipticCurvePublicKey):
        eck = ECKey.import_key(public)
        if eck.curve_name not in EC_ALGS:
            raise UnusableKey(f"EC curve {eck.curve_name} is not supported")
        return VerificationKey(eck, frozenset({EC_ALGS[eck.curve_name]}), spec.key_id)
    raise UnusableKey("certificate key type is not supported (RSA or EC only)")


def key_from_jwk(jwk: Mapping[str, Any], *, allow_secret: bool = False,
                 kid: str | None = None) -> VerificationKey:
    """Import one JWK for verification, enforcing use/key_ops and pinning algorithms."""
    if not isinstance(jwk, Mapping):
        raise UnusableKey("a JWK must be an object")
    kty, alg = jwk.get("kty"), jwk.get("alg")
    kid = kid if kid is not None else jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise UnusableKey("kid must be a string")
    if jwk.get("use", "sig") != "sig":
        raise UnusableKey(f"key use {jwk.get('use')!r} is not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise UnusableKey(f"key_ops {ops!r} does not allow 'verify'")
    if kty != "oct" and PRIVATE_MEMBERS & set(jwk) and not allow_secret:
        raise UnusableKey("private key material in a verification key set")
    try:
        if kty == "oct":
            if not allow_secret:
                raise UnusableKey("symmetric keys are not accepted from a key set")
            raw = OctKey.import_key(dict(jwk)).raw_value
            return _symmetric(raw, alg, kid)
        if kty == "RSA":
            n, e = jwk.get("n"), jwk.get("e")
            if not isinstance(n, str) or not isinstance(e, str):
                raise UnusableKey("RSA key needs n and e")
            check_rsa_public(_b64url_int(n), _b64url_int(e))
            key: Key = RSAKey.import_key({"kty": "RSA", "n": n, "e": e})
            return VerificationKey(key, _pin(RSA_ALGS, alg), kid)
        if kty == "EC":
            crv = jwk.get("crv")
            if crv not in EC_ALGS:
                raise UnusableKey(f"EC curve {crv!r} is not supported")
            key = ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk})
            return VerificationKey(key, _pin(frozenset({EC_ALGS[crv]}), alg), kid)
        if kty == "OKP" and jwk.get("crv") in OKP_ALGS:
            key = OKPKey.import_key({k: jwk[k] for k in ("kty", "crv", "x") if k in jwk})
            return VerificationKey(key, _pin(OKP_ALGS[str(jwk["crv"])], alg), kid)
    except (JoseError, ValueError, TypeError) as exc:
        if isinstance(exc, UnusableKey):
            raise
        raise UnusableKey(f"invalid {kty} key: {exc}") from exc
    raise UnusableKey(f"key type {kty!r} is not supported")


def keys_from_jwks(doc: Any, *, allow_secret: bool = False) -> tuple[list[VerificationKey],
                                                                        list[str]]:
    """Import a JWKS document: returns (usable keys, reasons for skipped keys).

    Raises UnusableKey for a set that must be refused whole: not a {"keys": [...]} object,
    duplicate kids, or (unless allow_secret) symmetric or private keys mixed in.
    """
    if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
        raise UnusableKey('a JWKS must be an object with a "keys" array')
    items: Iterable[Any] = doc["keys"]
    types = {item.get("kty") == "oct" for item in doc["keys"] if isinstance(item, Mapping)}
    if len(types) > 1:
        raise UnusableKey("key set mixes symmetric and asymmetric keys")
    kids: set[str] = set()
    keys: list[VerificationKey] = []
    skipped: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise UnusableKey("a JWKS entry is not an object")
        kid = item.get("kid")
        if isinstance(kid, str):
            if kid in kids:
                raise UnusableKey(f"duplicate kid {kid!r} in key set")
            kids.add(kid)
        if not allow_secret and (item.get("kty") == "oct" or PRIVATE_MEMBERS & set(item)):
            raise UnusableKey("key set mixes in symmetric or private keys")
        try:
            keys.append(key_from_jwk(item, allow_secret=allow_secret))
        except UnusableKey as exc:
            skipped.append(f"kid {kid!r}: {exc}")
    return keys, skipped

"""Strict JWS compact parsing and signature verification (the cryptography is joserfc's).

Nothing from a token is trusted before its signature verifies: the header is only read to
pick the algorithm (which must be one the candidate key allows) and the kid (a dictionary
key, never a path or URL). Base64url must be canonical, JSON must be an object without
duplicate names at any depth, and headers that name keys (jwk, jku, x5u, x5c), `crit`
extensions and compression are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from kubegate.services.jwt.keys import VerificationKey

MAX_TOKEN_LENGTH = 16384
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KNOWN_ALGS = frozenset({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384",
                         "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"})
_KEY_HEADERS = ("jwk", "jku", "x5u", "x5c")


class TokenError(ValueError):
    """A malformed or unacceptable token; the message says why."""


class NoMatchingKey(TokenError):
    """No key fits the token's kid and algorithm."""


@dataclass(frozen=True)
class ParsedToken:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def b64url_decode(segment: str) -> bytes:
    """Decode canonical unpadded base64url; anything else raises TokenError."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenError("invalid base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("invalid base64url") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
        raise TokenError("non-canonical base64url")
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise TokenError(f"duplicate JSON member {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise TokenError(f"invalid JSON number {name}")


def strict_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object with no duplicate member names."""
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates,
                           parse_constant=_reject_constant)
    except TokenError as exc:
        raise TokenError(f"{what}: {exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TokenError(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise TokenError(f"{what} is not a JSON object")
    return value


def parse_compact(token: str, *, allow_unsigned: bool = False) -> ParsedToken:
    """Split and check a compact JWS; raises TokenError. Does not verify the signature."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token is too long")
    parts = token.split(".")
    if len(parts) == 5:
        raise TokenError("encrypted tokens (JWE) are not supported")
    if len(parts) != 3:
        raise TokenError("token is not a JWS in compact serialization")
    h64, p64, s64 = parts
    if not h64:
        raise TokenError("token has an empty header")
    header = strict_json_object(b64url_decode(h64), "header")
    payload, signature = b64url_decode(p64), b64url_decode(s64)
    alg = header.get("alg")
    if alg == "none":
        if not allow_unsigned or signature:
            raise TokenError("unsigned tokens (alg none) are not accepted")
    elif not isinstance(alg, str) or alg not in _KNOWN_ALGS:
        raise TokenError(f"algorithm {alg!r} is not supported")
    elif not signature:
        raise TokenError("token has no signature")
    for name in _KEY_HEADERS:
        if name in header:
            raise TokenError(f"header parameter {name!r} is not accepted")
    if "crit" in header:
        raise TokenError(f"critical header extensions {header['crit']!r} are not understood")
    if "zip" in header or "enc" in header or "b64" in header:
        raise TokenError("zip/enc/b64 header parameters are not accepted in a JWS")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or len(kid) > 512):
        raise TokenError("kid must be a string of at most 512 characters")
    return ParsedToken(header, payload, f"{h64}.{p64}".encode("ascii"), signature)


def verify_signature(parsed: ParsedToken, keys: Iterable[VerificationKey]) -> VerificationKey:
    """Return the first key (that allows the token's alg) which verifies; else TokenError."""
    alg_name, tried = parsed.alg, 0
    for vk in keys:
        if alg_name not in vk.algorithms:
            continue
        tried += 1
        alg = JWSRegistry.algorithms[alg_name]
        try:
            alg.check_key(vk.key)
            if alg.verify(parsed.signing_input, parsed.signature, vk.key):
                return vk
        except (JoseError, ValueError, TypeError):
            continue
    if not tried:
        raise NoMatchingKey(f"no key matches kid {parsed.kid!r} and algorithm {alg_name}")
    raise TokenError("signature validation failed")

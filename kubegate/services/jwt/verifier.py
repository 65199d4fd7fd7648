"""JwtVerifier: validate-jwt's checks for one rule set.

How it works: the token is taken from the raw header/query/value (scheme checked), looked up
in the verified-token cache, else parsed strictly, its signature checked against static keys
and OpenID keys (algorithms pinned by key type), then its claims. `try_verify` does all of
this synchronously and returns None only when OpenID keys must be fetched first; `verify`
awaits those fetches. Invariants: only successes are cached, and only until exp + skew;
nothing in the token selects a key except `kid`, used as a dictionary key.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubegate.model.errors import ConfigError
from kubegate.services.jwt import claims as checks
from kubegate.services.jwt.cache import TokenCache
from kubegate.services.jwt.compact import (
    NoMatchingKey,
    ParsedToken,
    TokenError,
    parse_compact,
    strict_json_object,
    verify_signature,
)
from kubegate.services.jwt.keys import UnusableKey, VerificationKey, key_from_spec
from kubegate.services.jwt.openid import OpenIdRegistry, OpenIdSource
from kubegate.services.jwt.rules import JwtRules, TokenSource

NO_EXP_TTL = 300.0
_tags = itertools.count(1)


@dataclass(frozen=True)
class VerifiedToken:
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    cache_until: float

    @property
    def subject(self) -> str | None:
        return self.claims.get("sub") if isinstance(self.claims.get("sub"), str) else None

    @property
    def issuer(self) -> str | None:
        return self.claims.get("iss") if isinstance(self.claims.get("iss"), str) else None

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        return (aud,) if isinstance(aud, str) else tuple(a for a in aud or () if isinstance(a, str))


@dataclass(frozen=True)
class JwtFailure:
    status: int  # failed-validation-httpcode
    message: str  # response body message: failed-validation-error-message or the default
    reason: str  # context.LastError.Reason, e.g. TokenExpired
    detail: str  # context.LastError.Message (for logs and on-error)


class JwtVerifier:
    def __init__(self, rules: JwtRules, *, openid: OpenIdRegistry | None = None,
                 cache: TokenCache[VerifiedToken] | None = None) -> None:
        self.rules = rules
        self._tag = next(_tags)
        self._header = rules.source is TokenSource.HEADER
        # the scheme the Authorization header must name (lower case), or None
        self._scheme = str(rules.require_scheme).lower() if rules.scheme_applies else None
        self._cache: TokenCache[VerifiedToken] = cache if cache is not None else TokenCache()
        try:
            self._static = tuple(key_from_spec(s) for s in rules.signing_keys)
        except (UnusableKey, ValueError) as exc:
            raise ConfigError.one(f"<issuer-signing-keys>: {exc}") from exc
        if rules.openid_config_urls and openid is None:
            openid = OpenIdRegistry()
        self._sources: tuple[OpenIdSource, ...] = tuple(
            openid.source(u) for u in rules.openid_config_urls) if openid else ()

    def _fail(self, reason: str, detail: str) -> JwtFailure:
        default = detail if reason == "TokenNotPresent" else f"{detail} Access denied."
        return JwtFailure(self.rules.failed_validation_httpcode,
                          self.rules.failed_validation_error_message or default, reason, detail)

    def extract(self, value: str | None) -> str | JwtFailure:
        """Take the token out of the raw header/query/value, checking require-scheme."""
        value = (value or "").strip()
        if not value:
            return self._fail("TokenNotPresent", "JWT not present.")
        if self._header and " " in value:
            scheme, _, token = value.partition(" ")
            if self._scheme is not None and scheme.lower() != self._scheme:
                return self._fail("TokenNotPresent", "JWT not present.")
            value = token.strip()
        elif self._scheme is not None:
            return self._fail("TokenNotPresent", "JWT not present.")
        return value or self._fail("TokenNotPresent", "JWT not present.")

    def verify_cached(self, value: str | None, now: float) -> VerifiedToken | None:
        token = self.extract(value)
        return None if isinstance(token, JwtFailure) else self._cache.get(self._tag, token, now)

    def _candidates(self, kid: str | None) -> list[VerificationKey]:
        keys: list[VerificationKey] = list(self._static)
        for src in self._sources:
            keys.extend(src.current.keys if src.current else ())
        return [k for k in keys if kid is None or k.kid is None or k.kid == kid]

    def _known_kid(self, kid: str | None) -> bool:
        return kid is None or any(
            src.current is not None and kid in src.current.kids() for src in self._sources)

    def _pending(self, parsed: ParsedToken | None, now: float) -> list[OpenIdSource]:
        """Sources to fetch before this token can be judged (empty: judge now)."""
        due = [s for s in self._sources if s.needs_refresh(now)]
        if due or parsed is None or self._known_kid(parsed.kid) or self._static_kid(parsed.kid):
            return due
        return [s for s in self._sources if s.may_refetch_for_unknown_kid(now)]

    def _static_kid(self, kid: str | None) -> bool:
        return any(k.kid == kid for k in self._static)

    def try_verify(self, value: str | None, now: float) -> VerifiedToken | JwtFailure | None:
        """Verify without awaiting; None means OpenID keys must be fetched (use `verify`)."""
        token = self.extract(value)
        if isinstance(token, JwtFailure):
            return token
        hit = self._cache.get(self._tag, token, now)
        if hit is not None:
            return hit
        try:
            parsed = parse_compact(token, allow_unsigned=not self.rules.require_signed_tokens)
        except TokenError as exc:
            return self._fail("JwtInvalid", f"{exc}.")
        if parsed.alg != "none" and self._pending(parsed, now):
            return None
        return self._judge(token, parsed, now)

    async def verify(self, value: str | None, now: float) -> VerifiedToken | JwtFailure:
        result = self.try_verify(value, now)
        if result is not None:
            return result
        token = self.extract(value)
        if isinstance(token, JwtFailure):  # pragma: no cover - try_verify returned it already
            return token
        parsed = parse_compact(token, allow_unsigned=not self.rules.require_signed_tokens)
        for src in self._pending(parsed, now):
            await src.refresh(now)
        return self._judge(token, parsed, now)

    def _issuers(self) -> set[str]:
        found = set(self.rules.issuers)
        found.update(s.current.issuer for s in self._sources if s.current and s.current.issuer)
        return found

    def _judge(self, token: str, parsed: ParsedToken, now: float) -> VerifiedToken | JwtFailure:
        if parsed.alg != "none":
            try:
                verify_signature(parsed, self._candidates(parsed.kid))
            except NoMatchingKey as exc:
                return self._fail("TokenSignatureKeyNotFound",
                                  f"Signature validation failed: {exc}.")
            except TokenError as exc:
                return self._fail("TokenSignatureInvalid", f"{str(exc).capitalize()}.")
        try:
            claims = strict_json_object(parsed.payload, "payload")
        except TokenError as exc:
            return self._fail("JwtInvalid", f"{exc}.")
        failure = (checks.check_lifetime(claims, self.rules, now)
                   or checks.check_issuer(claims, self._issuers())
                   or checks.check_audience(claims, self.rules.audiences)
                   or checks.check_required(claims, self.rules.required_claims))
        if failure is not None:
            return self._fail(failure.reason, failure.detail)
        exp = claims.get("exp")
        until = float(exp) + self.rules.clock_skew if isinstance(exp, int | float) else now + NO_EXP_TTL
        verified = VerifiedToken(token, parsed.header, claims, until)
        self._cache.put(self._tag, token, verified, until, now)
        return verified

    def sources(self) -> Iterable[OpenIdSource]:
        return self._sources

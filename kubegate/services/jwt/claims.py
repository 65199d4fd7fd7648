"""Claim checks after the signature verified: lifetime, issuer, audience, required claims."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from kubegate.services.jwt.rules import ClaimRule, JwtRules


@dataclass(frozen=True)
class ClaimFailure:
    reason: str  # APIM's context.LastError.Reason
    detail: str  # APIM's context.LastError.Message


def _number(claims: dict[str, Any], name: str) -> float | None | ClaimFailure:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ClaimFailure("JwtInvalid", f"Claim '{name}' is not a NumericDate.")
    try:
        return float(value)
    except OverflowError:
        return ClaimFailure("JwtInvalid", f"Claim '{name}' is out of range.")


def check_lifetime(claims: dict[str, Any], rules: JwtRules, now: float) -> ClaimFailure | None:
    exp, nbf = _number(claims, "exp"), _number(claims, "nbf")
    for value in (exp, nbf):
        if isinstance(value, ClaimFailure):
            return value
    if exp is None and rules.require_expiration_time:
        return ClaimFailure("JwtInvalid",
                            "Lifetime validation failed. The token is missing an Expiration Time.")
    if isinstance(exp, float) and now > exp + rules.clock_skew:
        return ClaimFailure("TokenExpired", "Lifetime validation failed. The token is expired.")
    if isinstance(nbf, float) and now + rules.clock_skew < nbf:
        return ClaimFailure("JwtInvalid",
                            "Lifetime validation failed. The token is not yet valid.")
    return None


def check_issuer(claims: dict[str, Any], allowed: Collection[str]) -> ClaimFailure | None:
    if not allowed:
        return None
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss not in allowed:
        return ClaimFailure("TokenIssuerNotAllowed", "Issuer validation failed.")
    return None


def check_audience(claims: dict[str, Any], allowed: Collection[str]) -> ClaimFailure | None:
    if not allowed:
        return None
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in allowed for a in auds):
        return ClaimFailure("TokenAudienceNotAllowed", "Audience validation failed.")
    return None


def _claim_values(value: Any, separator: str | None) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, str | int | float):
            text = str(item)
        else:
            continue
        out.extend(p.strip() for p in text.split(separator)) if separator else out.append(text)
    return out


def check_required(claims: dict[str, Any], required: Collection[ClaimRule]) -> ClaimFailure | None:
    missing = [r.name for r in required if r.name not in claims]
    if missing:
        return ClaimFailure("TokenClaimNotFound",
                            f"JWT token is missing the following claims: {', '.join(missing)}.")
    for rule in required:
        if not rule.values:
            continue
        present = set(_claim_values(claims[rule.name], rule.separator))
        hits = [v in present for v in rule.values]
        if not (all(hits) if rule.match == "all" else any(hits)):
            shown = ", ".join(sorted(present))[:200]
            return ClaimFailure("TokenClaimValueNotAllowed",
                                f"Claim {rule.name} value of {shown} is not allowed.")
    return None

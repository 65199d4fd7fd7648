"""validate-jwt service: rules, strict JWS verification, OpenID/JWKS key cache, token cache."""

from kubegate.services.jwt.cache import TokenCache
from kubegate.services.jwt.element import rules_from_element
from kubegate.services.jwt.openid import (
    FetchStats,
    OpenIdRegistry,
    OpenIdSource,
    ProviderKeys,
    urllib_fetcher,
)
from kubegate.services.jwt.rules import ClaimRule, JwtRules, KeyKind, SigningKeySpec, TokenSource
from kubegate.services.jwt.verifier import JwtFailure, JwtVerifier, VerifiedToken

__all__ = [
    "ClaimRule", "FetchStats", "JwtFailure", "JwtRules", "JwtVerifier", "KeyKind",
    "OpenIdRegistry", "OpenIdSource", "ProviderKeys", "SigningKeySpec", "TokenCache",
    "TokenSource", "VerifiedToken", "rules_from_element", "urllib_fetcher",
]

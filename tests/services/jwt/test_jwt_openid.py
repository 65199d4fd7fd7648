"""OpenID discovery + JWKS against a local provider on 127.0.0.1:0 (times are injected)."""

from __future__ import annotations

import pytest
from joserfc.jwk import RSAKey

from kubegate.services.jwt import JwtFailure, JwtRules, JwtVerifier, OpenIdRegistry, VerifiedToken
from kubegate.services.jwt.openid import urllib_fetcher

pytestmark = pytest.mark.e2e
T0 = 1_700_000_000.0
K1, K2 = RSAKey.generate_key(2048), RSAKey.generate_key(2048)


def jwk(key: RSAKey, kid: str) -> dict[str, object]:
    return {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": "RS256"}


def claims(now: float, iss: str = "https://issuer.test/") -> dict[str, object]:
    return {"iss": iss, "aud": "api", "exp": now + 7200}


def make(provider) -> tuple[JwtVerifier, OpenIdRegistry]:
    registry = OpenIdRegistry(urllib_fetcher(timeout=5))
    rules = JwtRules(openid_config_urls=(provider.discovery_url,), audiences=("api",))
    return JwtVerifier(rules, openid=registry), registry


async def test_discovery_cache_and_issuer(provider, mint_token):
    provider.jwks = {"keys": [jwk(K1, "k1")]}
    v, registry = make(provider)
    tok = mint_token(K1, "RS256", claims(T0), {"kid": "k1"})
    assert v.try_verify(tok, T0) is None  # keys must be fetched first
    assert isinstance(await v.verify(tok, T0), VerifiedToken)
    assert provider.requests == ["/.well-known/openid-configuration", "/keys"]
    tok2 = mint_token(K1, "RS256", {**claims(T0), "sub": "b"}, {"kid": "k1"})
    assert isinstance(v.try_verify(tok2, T0 + 10), VerifiedToken)  # cached keys, sync path
    assert len(provider.requests) == 2
    bad_iss = mint_token(K1, "RS256", claims(T0, "https://evil/"), {"kid": "k1"})
    r = await v.verify(bad_iss, T0 + 20)
    assert isinstance(r, JwtFailure) and r.reason == "TokenIssuerNotAllowed"
    stats = registry.stats()[provider.discovery_url]
    assert (stats.fetches, stats.failures) == (1, 0)


async def test_rotation_and_unknown_kid_rate_limit(provider, mint_token):
    provider.jwks = {"keys": [jwk(K1, "k1")]}
    v, registry = make(provider)
    await v.verify(mint_token(K1, "RS256", claims(T0), {"kid": "k1"}), T0)
    provider.jwks = {"keys": [jwk(K1, "k1"), jwk(K2, "k2")]}  # rotation at the provider
    new = mint_token(K2, "RS256", claims(T0), {"kid": "k2"})
    r = await v.verify(new, T0 + 60)  # unknown kid, but last fetch < 5 min ago: no refetch
    assert isinstance(r, JwtFailure) and r.reason == "TokenSignatureKeyNotFound"
    assert registry.stats()[provider.discovery_url].fetches == 1
    assert isinstance(await v.verify(new, T0 + 301), VerifiedToken)  # refetch allowed
    assert registry.stats()[provider.discovery_url].fetches == 2
    for i in range(5):  # a flood of unknown kids costs at most one fetch per 5 minutes
        await v.verify(mint_token(K2, "RS256", claims(T0), {"kid": f"x{i}"}), T0 + 310 + i)
    assert registry.stats()[provider.discovery_url].fetches == 2
    provider.jwks = {"keys": [jwk(K2, "k2")]}  # k1 retired; hourly refresh drops it
    old = mint_token(K1, "RS256", {**claims(T0), "sub": "late"}, {"kid": "k1"})
    r = await v.verify(old, T0 + 301 + 3600)
    assert isinstance(r, JwtFailure) and r.reason == "TokenSignatureKeyNotFound"
    assert registry.stats()[provider.discovery_url].fetches == 3


async def test_failure_keeps_last_good_keys(provider, mint_token):
    provider.jwks = {"keys": [jwk(K1, "k1")]}
    v, registry = make(provider)
    tok = mint_token(K1, "RS256", claims(T0), {"kid": "k1"})
    await v.verify(tok, T0)
    provider.fail = True
    tok2 = mint_token(K1, "RS256", {**claims(T0), "n": 2}, {"kid": "k1"})
    assert isinstance(await v.verify(tok2, T0 + 3600), VerifiedToken)  # refresh failed
    stats = registry.stats()[provider.discovery_url]
    assert (stats.fetches, stats.failures) == (2, 1) and stats.last_error
    tok3 = mint_token(K1, "RS256", {**claims(T0), "n": 3}, {"kid": "k1"})
    assert isinstance(v.try_verify(tok3, T0 + 3700), VerifiedToken)  # backed off: no fetch
    assert registry.stats()[provider.discovery_url].fetches == 2


async def test_bad_jwks_is_a_counted_failure(provider, mint_token):
    provider.jwks = {"keys": [jwk(K1, "k1"), jwk(K2, "k1")]}  # duplicate kid: refused whole
    v, registry = make(provider)
    r = await v.verify(mint_token(K1, "RS256", claims(T0), {"kid": "k1"}), T0)
    assert isinstance(r, JwtFailure) and r.reason == "TokenSignatureKeyNotFound"
    assert registry.stats()[provider.discovery_url].failures == 1
    provider.jwks = {"keys": [{"kty": "oct", "k": "AAAA"}, jwk(K1, "k1")]}
    r = await v.verify(mint_token(K1, "RS256", claims(T0), {"kid": "k1"}), T0 + 300)
    assert isinstance(r, JwtFailure)
    assert registry.stats()[provider.discovery_url].failures == 2

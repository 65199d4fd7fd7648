"""OpenIdSource with an injected fetcher: no network, no real time."""

from __future__ import annotations

import asyncio
import json

from joserfc.jwk import RSAKey

from kubegate.services.jwt import JwtRules, JwtVerifier, OpenIdRegistry, VerifiedToken

URL = "https://idp.test/.well-known/openid-configuration"
KEY = RSAKey.generate_key(2048)


class FakeIdp:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.docs: dict[str, bytes] = {
            URL: json.dumps({"issuer": "https://idp.test/", "jwks_uri": "https://idp.test/k"}).encode(),
            "https://idp.test/k": json.dumps(
                {"keys": [{**KEY.as_dict(private=False), "kid": "a"}]}).encode(),
        }
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        await self.gate.wait()
        if url not in self.docs:
            raise OSError("connection refused")
        return self.docs[url]


async def test_concurrent_requests_share_one_fetch(mint_token):
    idp = FakeIdp()
    idp.gate.clear()
    registry = OpenIdRegistry(idp)
    v = JwtVerifier(JwtRules(openid_config_urls=(URL,)), openid=registry)
    tokens = [mint_token(KEY, "RS256", {"iss": "https://idp.test/", "exp": 2e9, "n": i},
                         {"kid": "a"}) for i in range(10)]
    pending = [asyncio.create_task(v.verify(t, 1e9)) for t in tokens]
    await asyncio.sleep(0)
    idp.gate.set()
    results = await asyncio.gather(*pending)
    assert all(isinstance(r, VerifiedToken) for r in results)
    assert idp.calls == [URL, "https://idp.test/k"]


async def test_bad_discovery_documents_are_counted(mint_token):
    idp = FakeIdp()
    registry = OpenIdRegistry(idp)
    v = JwtVerifier(JwtRules(openid_config_urls=(URL,)), openid=registry)
    tok = mint_token(KEY, "RS256", {"iss": "https://idp.test/", "exp": 2e9}, {"kid": "a"})
    bad_docs = [b"not json", b'{"issuer": "x"}', b'{"jwks_uri": "file:///etc/passwd"}',
                b'{"jwks_uri": "https://a/k", "jwks_uri": "https://b/k"}']
    for i, doc in enumerate(bad_docs):
        idp.docs[URL] = doc
        r = await v.verify(tok, 1e9 + 300 * i)
        assert not isinstance(r, VerifiedToken)
    stats = registry.stats()[URL]
    assert (stats.fetches, stats.failures) == (4, 4)

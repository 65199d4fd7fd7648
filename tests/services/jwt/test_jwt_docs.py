"""The XML example in docs/jwt.md parses and behaves as the page says."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from joserfc.jwk import OctKey, RSAKey

from kubegate.services.jwt import (
    JwtFailure,
    JwtVerifier,
    OpenIdRegistry,
    VerifiedToken,
    rules_from_element,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "jwt.md"
NOW = 1_700_000_000.0
IDP_KEY = RSAKey.generate_key(2048)


def tree(el: Element) -> dict[str, Any]:
    return {"name": el.tag, "attributes": dict(el.attrib), "text": el.text,
            "children": [tree(c) for c in el]}


async def fake_fetch(url: str) -> bytes:
    if url.endswith("openid-configuration"):
        return json.dumps({"issuer": "https://login.example.com/",
                           "jwks_uri": "https://login.example.com/keys"}).encode()
    return json.dumps({"keys": [{**IDP_KEY.as_dict(private=False), "kid": "idp"}]}).encode()


async def test_doc_example(mint_token):
    xml = re.search(r"```xml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert xml is not None
    rules = rules_from_element(tree(ElementTree.fromstring(xml.group(1))))
    verifier = JwtVerifier(rules, openid=OpenIdRegistry(fake_fetch))
    key = OctKey.import_key(base64.b64decode(rules.signing_keys[0].value))
    good = {"iss": "https://issuer.example.com/", "aud": "api://orders",
            "exp": NOW - 10, "groups": "staff,orders"}
    assert isinstance(await verifier.verify(f"Bearer {mint_token(key, 'HS256', good)}", NOW),
                      VerifiedToken)  # expired 10 s ago, within the 30 s skew
    idp_token = mint_token(IDP_KEY, "RS256", {**good, "iss": "https://login.example.com/"},
                           {"kid": "idp"})
    assert isinstance(await verifier.verify(f"Bearer {idp_token}", NOW), VerifiedToken)
    bad = mint_token(key, "HS256", {**good, "groups": ["staff"]})
    r = await verifier.verify(f"Bearer {bad}", NOW)
    assert isinstance(r, JwtFailure) and r.reason == "TokenClaimValueNotAllowed"
    assert r.message == "Unauthorized. Access token is missing or invalid."

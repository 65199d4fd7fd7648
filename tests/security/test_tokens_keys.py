"""Token and key attacks not already covered elsewhere.

The known JWT attacks (alg none, HS/RS confusion, embedded jwk/jku/x5u, kid
injection, crit, duplicate members, lifetime, issuer/audience, Wycheproof
invalid vectors) are tested in tests/services/jwt/test_jwt_verifier.py and
test_jwt_corpus.py; this file adds psychic ECDSA signatures, checks that key
comparison uses `hmac.compare_digest` and is timing-independent, and probes
subscription-key brute force through a real gateway.
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Backend, Gateway
from joserfc.jwk import ECKey

from kubegate.model.config import Product, Subscription
from kubegate.services import keys as keys_module
from kubegate.services.jwt.compact import TokenError, parse_compact, verify_signature
from kubegate.services.jwt.keys import key_from_jwk
from kubegate.services.keys import KeyIndex, hash_key

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("r,s", [(0, 0), (P256_N, P256_N), (0, 1), (1, 0)],
                         ids=["zero", "order", "r0", "s0"])
def test_psychic_ecdsa_signatures_rejected(r: int, s: int) -> None:
    """CVE-2022-21449: (r, s) = (0, 0) or multiples of the order must never verify."""
    key = key_from_jwk(ECKey.generate_key("P-256").as_dict(private=False))
    head = _b64(json.dumps({"alg": "ES256"}).encode())
    body = _b64(json.dumps({"sub": "mallory"}).encode())
    sig = _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    with pytest.raises(TokenError):
        verify_signature(parse_compact(f"{head}.{body}.{sig}"), [key])


def _calls(module: object, name: str) -> list[str]:
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    out.append(ast.unparse(call.func))
    return out


def test_key_lookup_compares_with_compare_digest() -> None:
    calls = _calls(keys_module, "lookup")
    assert "hmac.compare_digest" in calls, calls
    assert "hash_key" in calls  # the dict is probed with a hash, never the secret itself


def test_admin_token_compared_with_compare_digest() -> None:
    source = (Path(keys_module.__file__).parents[1] / "admin" / "auth.py").read_text()
    assert "hmac.compare_digest(" in source
    assert "== self._token" not in source and "self._token ==" not in source


def _index() -> tuple[KeyIndex, str]:
    key = "k" * 31 + "Z"
    idx = KeyIndex(static_subscriptions=[Subscription(name="s", scope="product:p",
                                                      primary_key=key)],
                   static_products=[Product(name="p")])
    idx.load()
    return idx, key


def test_key_lookup_time_does_not_depend_on_matching_prefix() -> None:
    """Coarse check, no absolute times: a guess sharing 31 of 32 characters with the key
    takes about as long as one sharing none (medians of interleaved batches)."""
    idx, key = _index()
    assert idx.lookup(key) is not None and idx.lookup(key[:-1] + "Y") is None
    near, far = key[:-1] + "Y", "Q" * 32
    samples: dict[str, list[float]] = {near: [], far: []}
    for _ in range(30):  # bounded: 30 rounds x 2 guesses x 200 look-ups
        for guess in (near, far):
            start = time.perf_counter()
            for _ in range(200):
                idx.lookup(guess)
            samples[guess].append(time.perf_counter() - start)
    a, b = statistics.median(samples[near]), statistics.median(samples[far])
    assert 0.5 < a / b < 2.0, (a, b)
    assert hash_key(near) != hash_key(key)


# -- subscription-key brute force through a real gateway --------------------------------
@pytest.fixture(scope="module")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    backend = Backend()
    config = {
        "apis": [{"name": "paid", "path": "/paid", "backend": backend.url,
                  "subscription_required": True}],
        "products": [{"name": "gold", "apis": ["paid"]}],
        "subscriptions": [{"name": "alice", "scope": "product:gold",
                           "primary_key": "a" * 32}],
    }
    gw = Gateway(tmp_path_factory.mktemp("keys"), config)
    try:
        yield gw
    finally:
        gw.stop()
        backend.close()


@pytest.mark.e2e
def test_subscription_key_required_and_checked(keyed_gateway: Gateway) -> None:
    gw = keyed_gateway
    assert gw.get("/paid/x").status == 401
    assert gw.get("/paid/x", headers={"Ocp-Apim-Subscription-Key": "b" * 32}).status == 401
    assert gw.get("/paid/x", headers={"Ocp-Apim-Subscription-Key": "a" * 32}).status == 200
    assert gw.get("/paid/x?subscription-key=" + "a" * 32).status == 200


@pytest.mark.e2e
def test_subscription_key_brute_force_is_throttled_and_logged(keyed_gateway: Gateway) -> None:
    gw = keyed_gateway
    statuses = [gw.get("/paid/x", headers={
        "Ocp-Apim-Subscription-Key": f"{i:032d}"}).status for i in range(60)]
    assert set(statuses) <= {401, 429}
    assert 429 in statuses, "60 wrong keys in a row were never throttled"
    first = statuses.index(429)  # 20 invalid keys a minute are answered (one came earlier)
    assert 19 <= first <= 20 and set(statuses[:first]) == {401}
    assert set(statuses[first:]) == {429}
    blocked = gw.get("/paid/x", headers={"Ocp-Apim-Subscription-Key": "c" * 32})
    assert blocked.status == 429 and int(blocked.header("Retry-After") or 0) > 0
    # a valid key still works from the same address (NAT, a key still propagating)
    assert gw.get("/paid/x", headers={"Ocp-Apim-Subscription-Key": "a" * 32}).status == 200
    log = gw.log_text().lower()
    assert "brute" in log or "invalid subscription key" in log

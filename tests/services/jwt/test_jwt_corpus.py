"""RFC 7515/7520 examples and Wycheproof JWS/JWK vectors from ../shared/corpora/jwt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubegate.services.jwt.compact import TokenError, parse_compact, verify_signature
from kubegate.services.jwt.keys import UnusableKey, VerificationKey, key_from_jwk, keys_from_jwks

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora" / "jwt"
WYCHE = CORPUS / "C2SP__wycheproof" / "testvectors_v1"


def load(path: Path) -> Any:
    if not path.exists():
        pytest.skip(f"corpus file {path} is absent")
    return json.loads(path.read_text(encoding="utf-8"))


def accepts(token: Any, keys: list[VerificationKey]) -> bool:
    if not isinstance(token, str):
        return False  # JSON serialization is not accepted for access tokens
    try:
        verify_signature(parse_compact(token), keys)
    except TokenError:
        return False
    return True


# Compact-serialization signatures; 4.5-4.8 use detached content / JSON serialization,
# which access tokens never do.
COOKBOOK = ["jws/4_1.rsa_v15_signature.json", "jws/4_2.rsa-pss_signature.json",
            "jws/4_3.ecdsa_signature.json", "jws/4_4.hmac-sha2_integrity_protection.json",
            "curve25519/jws.json"]


@pytest.mark.parametrize("name", COOKBOOK)
def test_rfc7520_cookbook_signatures_verify(name):
    case = load(CORPUS / "ietf-jose__cookbook" / name)
    jwk = case["input"]["key"]
    secret = jwk["kty"] == "oct"
    public = jwk if secret else {k: v for k, v in jwk.items() if k not in
                                 ("d", "p", "q", "dp", "dq", "qi")}
    key = key_from_jwk(public, allow_secret=secret)
    assert accepts(case["output"]["compact"], [key])
    head, payload, sig = case["output"]["compact"].split(".")
    other = "QUJD" if payload != "QUJD" else "REVG"
    assert not accepts(f"{head}.{other}.{sig}", [key])


def test_rfc7797_unencoded_payload_is_refused():
    case = load(CORPUS / "ietf-jose__cookbook" / "rfc7797" / "4.2.hmac-sha2_b64_false.json")
    key = key_from_jwk(case["input"]["key"], allow_secret=True)
    flat = case["output"]["json_flat"]
    assert not accepts(f"{flat['protected']}.{flat['payload']}.{flat['signature']}", [key])


def test_rfc7515_appendix_examples():
    doc = load(CORPUS / "rfc7515_7519_examples" / "examples.json")
    for ex in doc["examples"]:
        if "jwk" in ex:
            key = key_from_jwk(ex["jwk"], allow_secret=ex["jwk"]["kty"] == "oct")
            assert accepts(ex["jws_compact"], [key]), ex["id"]
        else:
            assert not accepts(ex["jws_compact"], []), ex["id"]


def _group_keys(group: dict[str, Any]) -> list[VerificationKey]:
    jwk = group.get("public") or group.get("private")
    if jwk is None:
        return []
    secret = jwk.get("kty") == "oct"
    try:
        return [key_from_jwk(jwk if secret else {k: v for k, v in jwk.items()
                                                  if k not in ("d", "p", "q", "dp", "dq", "qi")},
                             allow_secret=secret)]
    except UnusableKey:
        return []


def test_wycheproof_jws_invalid_never_accepted():
    doc = load(WYCHE / "json_web_signature_test.json")
    counts = {"invalid": 0, "invalid_rejected": 0, "valid": 0, "valid_accepted": 0}
    wrongly_accepted = []
    # Upstream lists a few identical JWS strings both as valid and as invalid (tcId 357 vs
    # 367/370); such contradictory vectors are counted separately, not judged.
    valid_strings = {t["jws"] for g in doc["testGroups"] for t in g["tests"]
                     if t["result"] == "valid"}
    counts["contradictory"] = 0
    for group in doc["testGroups"]:
        keys = _group_keys(group)
        for t in group["tests"]:
            got = accepts(t["jws"], keys)
            if t["result"] == "invalid" and t["jws"] in valid_strings:
                counts["contradictory"] += 1
                continue
            counts[t["result"]] += 1
            if t["result"] == "invalid":
                counts["invalid_rejected"] += not got
                if got:
                    wrongly_accepted.append((t["tcId"], t["comment"]))
            else:
                counts["valid_accepted"] += got
    print("wycheproof JWS:", counts)
    assert not wrongly_accepted
    assert counts["invalid"] > 300 and counts["valid"] > 40
    # Refused on purpose: 372/373 (non-base64url characters), 346/350 (key pinned to PS256,
    # token says PS384), 347/351 (key alg "ES521" is not a JOSE algorithm).
    assert counts["valid_accepted"] >= counts["valid"] - 6


def test_wycheproof_jwk_sets():
    doc = load(WYCHE / "json_web_key_test.json")
    wrongly_accepted, counts = [], {"invalid": 0, "valid": 0, "valid_accepted": 0}
    for group in doc["testGroups"]:
        keyset = group.get("public") or group.get("private")
        is_public = "public" in group
        try:
            keys, _ = (keys_from_jwks(keyset, allow_secret=not is_public)
                       if isinstance(keyset, dict) and "keys" in keyset
                       else ([key_from_jwk(keyset, allow_secret=not is_public)] if keyset else [],
                             []))
        except UnusableKey:
            keys = []
        for t in group["tests"]:
            got = accepts(t["jws"], keys)
            counts[t["result"]] += 1
            if t["result"] == "invalid" and got:
                wrongly_accepted.append((t["tcId"], t["comment"]))
            if t["result"] == "valid":
                counts["valid_accepted"] += got
    print("wycheproof JWK:", counts)
    assert not wrongly_accepted
    assert counts["valid_accepted"] == counts["valid"]

"""Verifier behaviour and attacks, with keys generated here (no network, no real time)."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from kubegate.model.errors import ConfigError
from kubegate.services.jwt import (
    ClaimRule,
    JwtFailure,
    JwtRules,
    JwtVerifier,
    KeyKind,
    SigningKeySpec,
    VerifiedToken,
)

NOW = 1_700_000_000.0
SECRET = bytes(range(32))
RSA = RSAKey.generate_key(2048)
EC = ECKey.generate_key("P-256")
RSA_PUB: dict[str, str] = RSA.as_dict(private=False)  # type: ignore[assignment]


def rules(**kw: object) -> JwtRules:
    base: dict[str, object] = {
        "signing_keys": (
            SigningKeySpec(KeyKind.SYMMETRIC, value=base64.b64encode(SECRET).decode()),
            SigningKeySpec(KeyKind.RSA, n=RSA_PUB["n"], e=RSA_PUB["e"], key_id="rsa1"),
        ),
        "require_scheme": "Bearer",
    }
    base.update(kw)
    return JwtRules(**base)  # type: ignore[arg-type]


def claims(**kw: object) -> dict[str, object]:
    return {"iss": "https://issuer.test/", "aud": "api", "sub": "alice", "exp": NOW + 60, **kw}


def ok(result: object) -> VerifiedToken:
    assert isinstance(result, VerifiedToken), result
    return result


def fail(result: object, reason: str) -> JwtFailure:
    assert isinstance(result, JwtFailure), result
    assert result.reason == reason, result
    assert result.status == 401
    return result


def test_valid_hs_rs_tokens(mint_token):
    v = JwtVerifier(rules())
    hs = mint_token(OctKey.import_key(SECRET), "HS256", claims())
    rs = mint_token(RSA, "RS256", claims(), {"kid": "rsa1"})
    ps = mint_token(RSA, "PS384", claims())
    for tok in (hs, rs, ps):
        assert ok(v.try_verify(f"Bearer {tok}", NOW)).subject == "alice"


async def test_async_verify_and_cache_fast_path(mint_token):
    v = JwtVerifier(rules())
    tok = mint_token(RSA, "RS256", claims())
    first = ok(await v.verify(f"Bearer {tok}", NOW))
    assert v.verify_cached(f"Bearer {tok}", NOW + 1) is first
    assert v.verify_cached(f"Bearer {tok}", NOW + 61) is None  # past exp: dropped
    other = JwtVerifier(rules(audiences=("other",)))
    assert other.verify_cached(f"Bearer {tok}", NOW) is None  # per rule set
    fail(other.try_verify(f"Bearer {tok}", NOW), "TokenAudienceNotAllowed")


def test_ec_key_only_verifies_its_curve(mint_token):
    from kubegate.services.jwt.keys import key_from_jwk
    vk = key_from_jwk(EC.as_dict(private=False))
    assert vk.algorithms == frozenset({"ES256"})


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_rejected(mint_token, alg):
    tok = mint_token(None, alg, claims())
    fail(JwtVerifier(rules()).try_verify(f"Bearer {tok}", NOW), "JwtInvalid")


def test_alg_none_only_with_require_signed_tokens_false(mint_token):
    tok = mint_token(None, "none", claims())
    ok(JwtVerifier(rules(require_signed_tokens=False)).try_verify(f"Bearer {tok}", NOW))
    signed_bad = mint_token(OctKey.import_key(b"x" * 32), "HS256", claims())
    fail(JwtVerifier(rules(require_signed_tokens=False)).try_verify(f"Bearer {signed_bad}", NOW),
         "TokenSignatureInvalid")


def test_hs_rs_key_confusion_rejected(mint_token):
    # Attacker signs HS256 with the RSA public key's bytes as the HMAC secret.
    pem = RSA.as_pem(private=False)
    tok = mint_token(OctKey.import_key(pem), "HS256", claims(), {"kid": "rsa1"})
    only_rsa = rules(signing_keys=(SigningKeySpec(KeyKind.RSA, n=RSA_PUB["n"], e=RSA_PUB["e"]),))
    fail(JwtVerifier(only_rsa).try_verify(f"Bearer {tok}", NOW), "TokenSignatureKeyNotFound")
    # and an RS token never verifies against a symmetric key
    only_hs = rules(signing_keys=(rules().signing_keys[0],))
    rs = mint_token(RSA, "RS256", claims())
    fail(JwtVerifier(only_hs).try_verify(f"Bearer {rs}", NOW), "TokenSignatureKeyNotFound")


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c"])
def test_embedded_key_headers_rejected(mint_token, name):
    attacker = RSAKey.generate_key(2048)
    value = {"jwk": attacker.as_dict(private=False), "jku": "https://evil/keys",
             "x5u": "https://evil/cert", "x5c": ["MII="]}[name]
    tok = mint_token(RSA, "RS256", claims(), {name: value})
    fail(JwtVerifier(rules()).try_verify(f"Bearer {tok}", NOW), "JwtInvalid")


@pytest.mark.parametrize("kid", ["../../etc/passwd", "rsa1' OR '1'='1", "rsa1\x00", "/dev/null"])
def test_kid_injection_is_only_a_lookup(mint_token, kid):
    tok = mint_token(RSA, "RS256", claims(), {"kid": kid})
    keyed = rules(signing_keys=(rules().signing_keys[1],))
    fail(JwtVerifier(keyed).try_verify(f"Bearer {tok}", NOW), "TokenSignatureKeyNotFound")


def test_non_string_kid_rejected(mint_token):
    tok = mint_token(RSA, "RS256", claims(), {"kid": ["rsa1"]})
    fail(JwtVerifier(rules()).try_verify(f"Bearer {tok}", NOW), "JwtInvalid")


def test_crit_rejected(mint_token):
    tok = mint_token(RSA, "RS256", claims(), {"crit": ["exp"], "exp": 1})
    fail(JwtVerifier(rules()).try_verify(f"Bearer {tok}", NOW), "JwtInvalid")


def test_duplicate_members_rejected(mint_token):
    key = OctKey.import_key(SECRET)
    dup_payload = '{"sub":"alice","exp":%s,"aud":"api","aud":"admin"}'.replace("%s", str(int(NOW) + 60))
    fail(JwtVerifier(rules()).try_verify(
        f"Bearer {mint_token(key, 'HS256', dup_payload)}", NOW), "JwtInvalid")
    dup_header = '{"alg":"HS256","alg":"none"}'
    tok = mint_token(key, "HS256", claims(), raw_header=dup_header)
    fail(JwtVerifier(rules()).try_verify(f"Bearer {tok}", NOW), "JwtInvalid")
    nested = '{"exp":%s,"x":{"a":1,"a":2}}'.replace("%s", str(int(NOW) + 60))
    fail(JwtVerifier(rules()).try_verify(
        f"Bearer {mint_token(key, 'HS256', nested)}", NOW), "JwtInvalid")


@pytest.mark.parametrize("token", [
    "", "abc", "a.b", "a.b.c.d", "....", "eyJ.eyJ.", "e30.e30.AA", "!!!.e30.AA",
    "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.AAAA",  # payload not JSON
])
def test_malformed_tokens(token):
    result = JwtVerifier(rules(require_scheme=None)).try_verify(token, NOW)
    assert isinstance(result, JwtFailure)
    assert result.reason in ("JwtInvalid", "TokenNotPresent", "TokenSignatureInvalid")


def test_lifetime_and_skew(mint_token):
    key = OctKey.import_key(SECRET)
    expired = mint_token(key, "HS256", claims(exp=NOW - 10))
    fail(JwtVerifier(rules()).try_verify(f"Bearer {expired}", NOW), "TokenExpired")
    ok(JwtVerifier(rules(clock_skew=30)).try_verify(f"Bearer {expired}", NOW))
    future = mint_token(key, "HS256", claims(nbf=NOW + 20))
    fail(JwtVerifier(rules()).try_verify(f"Bearer {future}", NOW), "JwtInvalid")
    ok(JwtVerifier(rules(clock_skew=30)).try_verify(f"Bearer {future}", NOW))
    no_exp = mint_token(key, "HS256", {"sub": "a"})
    r = fail(JwtVerifier(rules()).try_verify(f"Bearer {no_exp}", NOW), "JwtInvalid")
    assert "Expiration Time" in r.detail
    ok(JwtVerifier(rules(require_expiration_time=False)).try_verify(f"Bearer {no_exp}", NOW))
    for bad in (True, "2030-01-01", 10**400):
        bad_exp = mint_token(key, "HS256", claims(exp=bad))
        fail(JwtVerifier(rules()).try_verify(f"Bearer {bad_exp}", NOW), "JwtInvalid")


def test_issuer_audience(mint_token):
    key = OctKey.import_key(SECRET)
    tok = mint_token(key, "HS256", claims(aud=["x", "api"]))
    ok(JwtVerifier(rules(audiences=("api",), issuers=("https://issuer.test/",)))
       .try_verify(f"Bearer {tok}", NOW))
    fail(JwtVerifier(rules(issuers=("https://other/",))).try_verify(f"Bearer {tok}", NOW),
         "TokenIssuerNotAllowed")
    fail(JwtVerifier(rules(audiences=("nope",))).try_verify(f"Bearer {tok}", NOW),
         "TokenAudienceNotAllowed")


def test_required_claims(mint_token):
    key = OctKey.import_key(SECRET)
    tok = mint_token(key, "HS256", claims(group="admin,ops", roles=["a", "b"]))
    any_admin = ClaimRule("group", ("admin", "finance"), "any", ",")
    all_roles = ClaimRule("roles", ("a", "b"), "all")
    ok(JwtVerifier(rules(required_claims=(any_admin, all_roles))).try_verify(f"Bearer {tok}", NOW))
    r = fail(JwtVerifier(rules(required_claims=(ClaimRule("roles", ("a", "c")),)))
             .try_verify(f"Bearer {tok}", NOW), "TokenClaimValueNotAllowed")
    assert r.message == "Claim roles value of a, b is not allowed. Access denied."
    r = fail(JwtVerifier(rules(required_claims=(ClaimRule("tenant"), ClaimRule("scp"))))
             .try_verify(f"Bearer {tok}", NOW), "TokenClaimNotFound")
    assert r.detail == "JWT token is missing the following claims: tenant, scp."


def test_scheme_and_messages(mint_token):
    tok = mint_token(OctKey.import_key(SECRET), "HS256", claims())
    v = JwtVerifier(rules())
    r = fail(v.try_verify(tok, NOW), "TokenNotPresent")
    assert r.message == "JWT not present."
    fail(v.try_verify(f"Basic {tok}", NOW), "TokenNotPresent")
    ok(v.try_verify(f"bearer {tok}", NOW))
    fail(v.try_verify(None, NOW), "TokenNotPresent")
    other = JwtVerifier(rules(header_name="X-Token"))  # require-scheme: Authorization only
    ok(other.try_verify(tok, NOW))
    ok(other.try_verify(f"Basic {tok}", NOW))
    custom = JwtVerifier(rules(failed_validation_httpcode=403,
                               failed_validation_error_message="Unauthorized. Access token is missing or invalid."))
    c = custom.try_verify(None, NOW)
    assert isinstance(c, JwtFailure) and c.status == 403
    assert c.message == "Unauthorized. Access token is missing or invalid."
    assert c.detail == "JWT not present."


def test_bad_static_keys_are_config_errors():
    with pytest.raises(ConfigError, match="too short"):
        JwtVerifier(rules(signing_keys=(SigningKeySpec(KeyKind.SYMMETRIC, value="AAAA"),)))
    small: dict[str, str] = RSAKey.generate_key(1024).as_dict(private=False)  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="too small"):
        JwtVerifier(rules(signing_keys=(SigningKeySpec(KeyKind.RSA, n=small["n"], e=small["e"]),)))


def test_certificate_key(mint_token):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(65537, 2048)
    signer = RSAKey.import_key(private)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer")])
    now = datetime.datetime(2024, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(private, hashes.SHA256()))
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    v = JwtVerifier(rules(signing_keys=(SigningKeySpec(KeyKind.CERTIFICATE, value=der),)))
    ok(v.try_verify(f"Bearer {mint_token(signer, 'RS256', claims())}", NOW))
    fail(v.try_verify(f"Bearer {mint_token(OctKey.import_key(SECRET), 'HS256', claims())}", NOW),
         "TokenSignatureKeyNotFound")


def test_tampered_payload_rejected(mint_token):
    tok = mint_token(RSA, "RS256", claims())
    h, _, s = tok.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(sub="mallory")).encode()).rstrip(b"=")
    fail(JwtVerifier(rules()).try_verify(f"Bearer {h}.{forged.decode()}.{s}", NOW),
         "TokenSignatureInvalid")

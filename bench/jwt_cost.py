"""Cost of validate-jwt per request, cached and uncached, as a share of a plain
proxied request.

Usage: python bench/jwt_cost.py [--plain-us 107] [--n 2000]

`--plain-us` is the plain proxy's CPU per request from `bench/run.py` (the
kubegate-1w row, 64 connections); the script prints the verifier's CPU per
request for a token seen before (a dictionary look-up in the verified-token
cache) and for a fresh token every time (signature check, claims), and each as
a ratio to that plain request. The end-to-end row with a cached token is the
`kubegate-jwt` scenario of bench/run.py.
"""

from __future__ import annotations

import argparse
import base64
import time

from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from kubegate.services.jwt import JwtRules, JwtVerifier, rules_from_element


def element(key_xml: str) -> dict[str, object]:
    return {"name": "validate-jwt", "attributes": {"header-name": "Authorization",
                                                   "require-scheme": "Bearer"},
            "children": [
                {"name": "issuer-signing-keys", "attributes": {}, "children": [
                    {"name": "key", "attributes": {}, "children": [], "text": key_xml}]},
                {"name": "audiences", "attributes": {}, "children": [
                    {"name": "audience", "attributes": {}, "children": [], "text": "bench"}]}]}


def measure(verifier: JwtVerifier, tokens: list[str]) -> float:
    start = time.process_time()
    for token in tokens:
        result = verifier.try_verify("Bearer " + token, time.time())
        assert result is not None and not hasattr(result, "reason"), result
    return (time.process_time() - start) / len(tokens) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plain-us", type=float, default=107.0)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    secret = b"kubegate-bench-secret-key-0123456789abcdef"
    key = OctKey.import_key(secret)
    rules: JwtRules = rules_from_element(element(base64.b64encode(secret).decode()))
    claims = {"aud": "bench", "exp": int(time.time()) + 3600}
    fresh = [jwt.encode({"alg": "HS256"}, {**claims, "jti": str(i)}, key) for i in range(args.n)]
    rows = [("HS256, cached (same token)", measure(JwtVerifier(rules), [fresh[0]] * args.n)),
            ("HS256, uncached (new token each time)", measure(JwtVerifier(rules), fresh))]
    rsa = RSAKey.generate_key(2048)
    public = rsa.as_dict(private=False)
    rsa_rules = rules_from_element({**element(""), "children": [
        {"name": "issuer-signing-keys", "attributes": {}, "children": [
            {"name": "key", "attributes": {"n": public["n"], "e": public["e"]}, "children": []}]},
        {"name": "audiences", "attributes": {}, "children": [
            {"name": "audience", "attributes": {}, "children": [], "text": "bench"}]}]})
    signed = [jwt.encode({"alg": "RS256"}, {**claims, "jti": str(i)}, rsa)
              for i in range(min(args.n, 500))]
    rows.append(("RS256, uncached (new token each time)", measure(JwtVerifier(rsa_rules), signed)))
    print(f"| validate-jwt | CPU µs/request | × plain proxy request ({args.plain_us:g} µs) |")
    print("| --- | ---: | ---: |")
    for name, us in rows:
        print(f"| {name} | {us:.1f} | {us / args.plain_us:.2f} |")


if __name__ == "__main__":
    main()

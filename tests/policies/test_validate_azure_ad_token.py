"""validate-azure-ad-token through the pipeline, with a fake Entra ID (discovery + JWKS
served by an injected fetcher: no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from kubegate.model.errors import ConfigError
from kubegate.policies.compiler import CompileEnv
from kubegate.services.jwt import OpenIdRegistry

from .helpers import doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

NOW = 1_700_000_000
TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
KEY = RSAKey.generate_key(2048)
OTHER_KEY = RSAKey.generate_key(2048)
V2 = f"https://login.microsoftonline.com/{TID}/v2.0"
V1 = f"https://sts.windows.net/{TID}/"


class FakeEntra:
    def __init__(self, host: str = "login.microsoftonline.com",
                 tenant: str = "contoso.onmicrosoft.com") -> None:
        keys = json.dumps({"keys": [{**KEY.as_dict(private=False), "kid": "k1"}]}).encode()
        self.docs = {
            f"https://{host}/{tenant}/v2.0/.well-known/openid-configuration": json.dumps(
                {"issuer": V2, "jwks_uri": f"https://{host}/{tenant}/discovery/v2.0/keys"}),
            f"https://{host}/{tenant}/.well-known/openid-configuration": json.dumps(
                {"issuer": V1, "jwks_uri": f"https://{host}/{tenant}/discovery/keys"}),
        }
        self.docs = {k: v.encode() for k, v in self.docs.items()}
        self.docs[f"https://{host}/{tenant}/discovery/v2.0/keys"] = keys
        self.docs[f"https://{host}/{tenant}/discovery/keys"] = keys
        self.calls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if url not in self.docs:
            raise OSError(f"no such document {url}")
        return self.docs[url]


def token(key: RSAKey = KEY, **claims: Any) -> str:
    payload = {"iss": V2, "aud": "backend-app", "azp": "client-1", "sub": "alice",
               "exp": NOW + 600, **claims}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in payload.items()
                                                      if v is not None}, key)


def env(idp: FakeEntra | None = None, **named: str) -> CompileEnv:
    return CompileEnv(services={"openid": OpenIdRegistry(idp or FakeEntra())},
                      named_values=named)


POLICY = doc(inbound=(
    '<validate-azure-ad-token tenant-id="contoso.onmicrosoft.com" '
    'output-token-variable-name="jwt">'
    '<client-application-ids><application-id>client-1</application-id>'
    '<application-id>client-2</application-id></client-application-ids>'
    '<backend-application-ids><application-id>backend-app</application-id>'
    '</backend-application-ids></validate-azure-ad-token>'))


def bearer(value: str) -> Any:
    return make_ctx(headers=[("Authorization", "Bearer " + value)])


async def test_v2_and_v1_tokens_of_a_known_client_pass() -> None:
    idp = FakeEntra()
    ctx, backend = await run(POLICY, bearer(token()), env=env(idp))
    assert len(backend.calls) == 1 and ctx.Variables["jwt"].Subject == "alice"
    v1 = token(iss=V1, azp=None, appid="client-2", aud="api://backend-app")
    _, backend = await run(POLICY, bearer(v1), env=env(idp))
    assert len(backend.calls) == 1
    assert idp.calls[0] == ("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/"
                            ".well-known/openid-configuration")


@pytest.mark.parametrize(("tok", "reason"), [
    (token(azp="stranger"), "TokenClientApplicationNotAllowed"),
    (token(azp=None), "TokenClientApplicationNotAllowed"),
    (token(aud="someone-else"), "TokenAudienceNotAllowed"),
    (token(iss="https://login.microsoftonline.com/other-tenant/v2.0"), "TokenIssuerNotAllowed"),
    (token(exp=NOW - 10), "TokenExpired"),
    (token(OTHER_KEY), "TokenSignatureInvalid"),
])
async def test_rejected_tokens(tok: str, reason: str) -> None:
    ctx, backend = await run(POLICY, bearer(tok), env=env())
    assert backend.calls == [] and ctx.Response.StatusCode == 401
    assert err(ctx).Reason == reason and err(ctx).Source == "validate-azure-ad-token"


async def test_the_authorization_header_needs_the_bearer_scheme() -> None:
    ctx, _ = await run(POLICY, make_ctx(headers=[("Authorization", "Token " + token())]),
                       env=env())
    assert err(ctx).Reason == "TokenNotPresent"
    assert json.loads(ctx.Response.Body.content or b"")["message"] == "JWT not present."


async def test_audiences_claims_and_failure_settings() -> None:
    xml = doc(inbound=(
        '<validate-azure-ad-token tenant-id="https://contoso.onmicrosoft.com/" '
        'header-name="X-Token" failed-validation-httpcode="403" '
        'failed-validation-error-message="Nope">'
        '<audiences><audience>https://api.example.com</audience></audiences>'
        '<required-claims><claim name="roles" match="any"><value>admin</value>'
        '<value>reader</value></claim></required-claims></validate-azure-ad-token>'))
    ok = token(aud="https://api.example.com", azp="anyone", roles=["reader"])
    _, backend = await run(xml, make_ctx(headers=[("X-Token", ok)]), env=env())
    assert len(backend.calls) == 1
    no_role = token(aud="https://api.example.com", roles=["guest"])
    ctx, _ = await run(xml, make_ctx(headers=[("X-Token", no_role)]), env=env())
    assert ctx.Response.StatusCode == 403 and err(ctx).Reason == "TokenClaimValueNotAllowed"
    assert json.loads(ctx.Response.Body.content or b"")["message"] == "Nope"


async def test_token_value_named_values_and_endpoint() -> None:
    """The oauth-proxy fragment's shape: token from a variable, ids from named values."""
    xml = doc(inbound=(
        '<set-variable name="accessToken" value="@(context.Request.Headers.GetValueOrDefault('
        '&quot;X-T&quot;, &quot;&quot;))" />'
        '<validate-azure-ad-token tenant-id="{{TenantId}}" authentication-endpoint='
        '"login.microsoftonline.us" token-value="@((string)context.Variables[&quot;accessToken'
        '&quot;])"><client-application-ids><application-id>{{ClientId}}</application-id>'
        '</client-application-ids></validate-azure-ad-token>'))
    idp = FakeEntra(host="login.microsoftonline.us", tenant=TID)
    compiled = env(idp, TenantId=TID, ClientId="client-9")
    ctx, backend = await run(xml, make_ctx(headers=[("X-T", token(azp="client-9"))]),
                             env=compiled)
    assert len(backend.calls) == 1, err(ctx).Message
    ctx, backend = await run(xml, make_ctx(headers=[("X-T", token(azp="client-1"))]),
                             env=compiled)
    assert backend.calls == [] and err(ctx).Reason == "TokenClientApplicationNotAllowed"


@pytest.mark.parametrize(("xml", "needle"), [
    ('<validate-azure-ad-token><client-application-ids><application-id>a</application-id>'
     '</client-application-ids></validate-azure-ad-token>', "missing required attribute 'tenant-id'"),
    ('<validate-azure-ad-token tenant-id="t" />', "needs <client-application-ids>"),
    ('<validate-azure-ad-token tenant-id="t"><client-application-ids><application-id>'
     '@(context.Variables["x"])</application-id></client-application-ids>'
     '</validate-azure-ad-token>', "policy expressions are not allowed here"),
    ('<validate-azure-ad-token tenant-id="t"><client-application-ids><application-id>a'
     '</application-id></client-application-ids><decryption-keys><key>AA==</key>'
     '</decryption-keys></validate-azure-ad-token>', "JWE"),
    ('<validate-azure-ad-token tenant-id="a/b"><client-application-ids><application-id>a'
     '</application-id></client-application-ids></validate-azure-ad-token>',
     "expected a tenant id or domain"),
    ('<validate-azure-ad-token tenant-id="t" header-name="A" query-parameter-name="b">'
     '<client-application-ids><application-id>a</application-id></client-application-ids>'
     '</validate-azure-ad-token>', "<validate-azure-ad-token>: exactly one of header-name"),
    ('<validate-azure-ad-token tenant-id="t" failed-validation-httpcode="99">'
     '<client-application-ids><application-id>a</application-id></client-application-ids>'
     '</validate-azure-ad-token>', "failed-validation-httpcode must be between"),
])
def test_compile_errors(xml: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        pipeline(doc(inbound=xml), env())

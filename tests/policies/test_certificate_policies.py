"""authentication-certificate, validate-client-certificate, proxy; the certificate store."""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
from pathlib import Path
from typing import Any, cast

import pytest

from kubegate.model.config import Config
from kubegate.model.errors import ConfigError
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.state import PolicyContext, ProxyRoute
from kubegate.policies.x509 import X509Certificate, format_dn, parse_dn, serial_hex
from kubegate.services.certificates import CertificateStore, HeldCertificate, from_bytes
from tests.policies.x509_factory import Pki, key_pem, name, pem, pfx, thumb, write_pair

from .helpers import doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def client(pki: Pki) -> tuple[Any, Any]:
    return pki.issue("gateway-client")


def store_with(pki: Pki, client: tuple[Any, Any], tmp_path: Path, **extra: Any) -> CertificateStore:
    cert_file, key_file = write_pair(tmp_path, "client", *client)
    (tmp_path / "ca.crt").write_bytes(pem(pki.cert))
    config = Config.model_validate({"certificates": {
        "backend-client": {"cert_file": "client.crt", "key_file": "client.key"},
        "root": {"cert_file": "ca.crt"}, **extra}})
    store, problems = CertificateStore.load(config, tmp_path)
    assert problems == []
    return store


def env_of(store: CertificateStore | None, **kw: Any) -> CompileEnv:
    return CompileEnv(services={"certificates": store} if store is not None else {}, **kw)


# -- the store -------------------------------------------------------------------------
def test_store_loads_pem_pfx_and_encrypted_keys(pki: Pki, client: Any, tmp_path: Path) -> None:
    cert, key = client
    (tmp_path / "c.pfx").write_bytes(pfx(cert, key, b"s3cret"))
    (tmp_path / "enc.key").write_bytes(key_pem(key, b"pw"))
    (tmp_path / "c.crt").write_bytes(pem(cert))
    config = Config.model_validate({"certificates": {
        "pfx": {"pfx_file": "c.pfx", "password": "s3cret"},
        "enc": {"cert_file": "c.crt", "key_file": "enc.key", "password": "pw"}}})
    store, problems = CertificateStore.load(config, tmp_path)
    assert problems == []
    assert store.by_id["pfx"].thumbprint == store.by_id["enc"].thumbprint == thumb(cert)
    assert store.find(thumbprint=thumb(cert).lower()) is not None
    assert store.find(thumbprint=" ".join(thumb(cert)[i:i + 2] for i in range(0, 40, 2)))
    assert isinstance(store.by_id["pfx"].client_context(), ssl.SSLContext)


def test_store_reports_unloadable_certificates(pki: Pki, client: Any, tmp_path: Path) -> None:
    cert, key = client
    other_cert, _ = pki.issue("other")
    (tmp_path / "c.pfx").write_bytes(pfx(cert, key, b"right"))
    (tmp_path / "c.crt").write_bytes(pem(cert))
    (tmp_path / "o.crt").write_bytes(pem(other_cert))
    (tmp_path / "c.key").write_bytes(key_pem(key))
    config = Config.model_validate({"certificates": {
        "missing": {"cert_file": "nope.crt"},
        "wrong-password": {"pfx_file": "c.pfx", "password": "wrong"},
        "mismatch": {"cert_file": "o.crt", "key_file": "c.key"}},
        "gateway": {"listeners": [{"tls": {"certificate": "x", "key": "y",
                                           "client_certificate": "optional",
                                           "client_ca": str(tmp_path / "none.pem")}}]}})
    _, problems = CertificateStore.load(config, tmp_path)
    text = "\n".join(str(p) for p in problems)
    assert "certificates.missing: cannot load certificate" in text
    assert "certificates.wrong-password: cannot load certificate: wrong or missing password" in text
    assert "does not belong to the certificate" in text
    assert "gateway.listeners[0].tls.client_ca: cannot load client CA bundle" in text


@pytest.mark.parametrize(("entry", "message"), [
    ({"key_file": "k"}, "exactly one of cert_file or pfx_file"),
    ({"cert_file": "c", "pfx_file": "p"}, "exactly one of cert_file or pfx_file"),
    ({"pfx_file": "p", "key_file": "k"}, "key_file goes with cert_file")])
def test_certificate_entries_are_validated(entry: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config.model_validate({"certificates": {"x": entry}})


def test_listener_client_certificate_needs_a_ca() -> None:
    with pytest.raises(ValueError, match="needs client_ca"):
        Config.model_validate({"gateway": {"listeners": [{"tls": {
            "certificate": "c", "key": "k", "client_certificate": "required"}}]}})
    with pytest.raises(ValueError, match="client_certificate is off"):
        Config.model_validate({"gateway": {"listeners": [{"tls": {
            "certificate": "c", "key": "k", "client_ca": "ca.pem"}}]}})


# -- authentication-certificate --------------------------------------------------------
async def test_certificate_by_id_and_thumbprint(pki: Pki, client: Any, tmp_path: Path) -> None:
    store = store_with(pki, client, tmp_path)
    for attr in ('certificate-id="backend-client"', f'thumbprint="{thumb(client[0]).lower()}"'):
        ctx, backend = await run(doc(inbound=f"<authentication-certificate {attr} />"),
                                 env=env_of(store))
        assert ctx.Response.StatusCode == 200 and len(backend.calls) == 1
        assert ctx.backend_certificate is store.by_id["backend-client"]


@pytest.mark.parametrize(("attrs", "message"), [
    ('certificate-id="nope"', "no configured certificate has certificate-id 'nope' "
                              "(configured: backend-client, root)"),
    ('thumbprint="' + "AB" * 20 + '"', "no configured certificate has thumbprint"),
    ('thumbprint="xyz"', "expected a SHA-1 thumbprint"),
    ('certificate-id="root"', "certificate 'root' has no private key"),
    ('certificate-id="a" thumbprint="' + "AB" * 20 + '"', "needs exactly one of"),
    ("", "needs exactly one of"),
    ('certificate-id="backend-client" password="x"', "only applies to a certificate given in"),
    ('body="bm90IGEgY2VydA=="', "not a usable client certificate"),
])
def test_authentication_certificate_compile_errors(pki: Pki, client: Any, tmp_path: Path,
                                                   attrs: str, message: str) -> None:
    store = store_with(pki, client, tmp_path)
    with pytest.raises(ConfigError, match=re.escape(message)):
        pipeline(doc(inbound=f"<authentication-certificate {attrs} />"), env_of(store))


def test_placeholder_mode_accepts_unknown_certificates() -> None:
    env = CompileEnv(placeholder_named_values=True)
    pipeline(doc(inbound='<authentication-certificate thumbprint="{{Client-Cert}}" />'), env)
    pipeline(doc(inbound='<authentication-certificate certificate-id="unknown" />'), env)
    with pytest.raises(ConfigError, match="no configured certificate"):
        pipeline(doc(inbound='<authentication-certificate certificate-id="unknown" />'),
                 CompileEnv())


async def test_computed_certificate_id(pki: Pki, client: Any, tmp_path: Path) -> None:
    store = store_with(pki, client, tmp_path)
    xml = doc(inbound='<authentication-certificate '
                      'certificate-id="@(context.Request.Headers.GetValueOrDefault(&quot;X-Cert&quot;, &quot;&quot;))" />')
    ctx, _ = await run(xml, ctx=make_ctx(headers=[("X-Cert", "backend-client")]),
                       env=env_of(store))
    assert ctx.backend_certificate is store.by_id["backend-client"]
    ctx, backend = await run(xml, ctx=make_ctx(headers=[("X-Cert", "other")]), env=env_of(store))
    assert ctx.Response.StatusCode == 500 and backend.calls == []
    assert err(ctx).Reason == "CertificateNotFound"


async def test_certificate_in_body(pki: Pki, client: Any) -> None:
    cert, key = client
    blob = pfx(cert, key, b"pw")
    store = CertificateStore()
    xml = doc(inbound='<authentication-certificate body="@(context.Variables.GetValueOrDefault'
                      '&lt;byte[]&gt;(&quot;pfx&quot;))" password="{{pfx-password}}" />')
    for password, status in (("pw", 200), ("wrong", 500)):
        ctx = make_ctx()
        ctx.Variables["pfx"] = blob
        env = env_of(store, named_values={"pfx-password": password})
        ctx, _ = await run(xml, ctx=ctx, env=env)
        assert ctx.Response.StatusCode == status
        if status == 200:
            assert ctx.backend_certificate.thumbprint == thumb(cert)
        else:
            assert err(ctx).Reason == "InvalidCertificate"
    # base64 text (Key Vault secrets are base64 PFX) with Convert.FromBase64String, cached
    ctx = make_ctx()
    ctx.Variables["b64"] = base64.b64encode(pfx(cert, key, None)).decode()
    xml = doc(inbound='<authentication-certificate body="@(Convert.FromBase64String('
                      '(string)context.Variables[&quot;b64&quot;]))" />')
    ctx, _ = await run(xml, ctx=ctx, env=env_of(store))
    first = ctx.backend_certificate
    assert isinstance(first, HeldCertificate) and first.thumbprint == thumb(cert)
    ctx2 = make_ctx()
    ctx2.Variables["b64"] = ctx.Variables["b64"]
    ctx2, _ = await run(xml, ctx=ctx2, env=env_of(store))
    assert ctx2.backend_certificate is first


def test_pem_body_and_key_mismatch(pki: Pki, client: Any) -> None:
    cert, key = client
    held = from_bytes(pem(cert) + key_pem(key), None)
    assert held.thumbprint == thumb(cert) and held.key is not None
    _, other_key = pki.issue("x")
    with pytest.raises(ValueError, match="does not belong"):
        from_bytes(pem(cert) + key_pem(other_key), None)
    with pytest.raises(ValueError, match="no private key"):
        from_bytes(pem(cert), None).client_context()


# -- validate-client-certificate -----------------------------------------------------------
VCC = ('<validate-client-certificate validate-revocation="{rev}" validate-trust="{trust}" '
       'validate-not-before="true" validate-not-after="{after}" ignore-error="{ignore}">'
       '{identities}</validate-client-certificate>')


def vcc(identities: str = "", rev: str = "false", trust: str = "true", after: str = "true",
        ignore: str = "false") -> str:
    return doc(inbound=VCC.format(identities=identities, rev=rev, trust=trust, after=after,
                                  ignore=ignore))


def live_ctx() -> PolicyContext:
    """A request context on the real clock (the test certificates are dated from now)."""
    return cast(PolicyContext, PolicyContext.for_request(
        "GET", "/api/x", "", [], "10.0.0.1", "https", "gw", None, None, clock=time.time))


def presented(cert: Any, verified: bool = True) -> Any:
    ctx = live_ctx()
    ctx.Request.Certificate = X509Certificate.of(cert, chain_verified=verified)
    return ctx


async def status_of(xml: str, ctx: Any, env: CompileEnv | None = None) -> tuple[int, str | None]:
    ctx, _ = await run(xml, ctx=ctx, env=env)
    reason = ctx.LastError.Reason if ctx.LastError is not None else None
    return ctx.Response.StatusCode, reason


async def test_missing_expired_not_yet_valid(pki: Pki) -> None:
    good, _ = pki.issue("good")
    expired, _ = pki.issue("old", days=(-10, -1))
    future, _ = pki.issue("new", days=(5, 10))
    assert await status_of(vcc(), presented(good)) == (200, None)
    assert await status_of(vcc(), make_ctx()) == (403, "ClientCertificateMissing")
    assert await status_of(vcc(), presented(expired)) == (403, "ClientCertificateExpired")
    assert await status_of(vcc(after="false"), presented(expired)) == (200, None)
    assert await status_of(vcc(), presented(future)) == (403, "ClientCertificateNotYetValid")
    ctx, _ = await run(vcc(), ctx=presented(expired))
    assert json.loads(ctx.Response.Body.content or b"")["message"].startswith(
        "Invalid client certificate: the client certificate expired on")


async def test_trust(pki: Pki, client: Any, tmp_path: Path) -> None:
    cert, _ = pki.issue("someone")
    stranger = Pki("Other CA").issue("someone")[0]
    anchored = CertificateStore(anchors=[pki.cert])
    assert await status_of(vcc(), presented(cert, verified=True)) == (200, None)
    assert await status_of(vcc(), presented(cert, verified=False)) == (
        403, "ClientCertificateNotTrusted")
    assert await status_of(vcc(), presented(cert, False), env_of(anchored)) == (200, None)
    assert await status_of(vcc(), presented(stranger, False), env_of(anchored)) == (
        403, "ClientCertificateNotTrusted")
    assert await status_of(vcc(trust="false"), presented(stranger, False)) == (200, None)


async def test_identities(pki: Pki, client: Any, tmp_path: Path) -> None:
    store = store_with(pki, client, tmp_path)
    subject = name("api.example.com", C="US", O="Contoso, Inc.")
    cert, _ = pki.issue("", dns=["api.example.com", "alt.example.com"], serial=0x80AB,
                        subject=subject)
    env = env_of(store)
    cases = {
        f'thumbprint="{thumb(cert).lower()}"': True,
        'thumbprint="' + "00" * 20 + '"': False,
        'serial-number="80ab"': True, 'serial-number="0080AB"': True, 'serial-number="81"': False,
        'common-name="API.example.com"': True, 'common-name="example.com"': False,
        'subject="C=US, O=&quot;Contoso, Inc.&quot;, CN=api.example.com"': True,
        'subject="CN=api.example.com, O=&quot;Contoso, Inc.&quot;, C=US"': True,
        'subject="CN=api.example.com"': False,
        'dns-name="alt.example.com"': True, 'dns-name="other.example.com"': False,
        'issuer-subject="CN=Test Root CA, O=Kubegate Tests"': True,
        'issuer-subject="CN=Test Root CA"': False,
        f'issuer-thumbprint="{thumb(pki.cert)}"': True,
        'issuer-certificate-id="root"': True,
        'issuer-certificate-id="backend-client"': False,
        'common-name="api.example.com" dns-name="nope"': False,
    }
    for attrs, ok in cases.items():
        xml = vcc(f"<identities><identity {attrs} /></identities>")
        got = await status_of(xml, presented(cert), env)
        assert got == ((200, None) if ok else (403, "ClientCertificateIdentityMismatch")), attrs
    two = vcc('<identities><identity common-name="nope" /><identity dns-name="alt.example.com" />'
              '</identities>')
    assert await status_of(two, presented(cert), env) == (200, None)


async def test_ignore_error_continues_and_traces(pki: Pki) -> None:
    ctx = make_ctx(tracing=True)
    ctx, backend = await run(vcc(ignore="true"), ctx=ctx)
    assert ctx.Response.StatusCode == 200 and len(backend.calls) == 1
    assert any("no client certificate was presented -> ignored" in line
               for line in ctx.trace or [])


@pytest.mark.parametrize(("identity", "message"), [
    ('<identity issuer-certificate-id="root" issuer-subject="CN=x" />', "excludes"),
    ('<identity issuer-certificate-id="nope" />', "no configured certificate has id 'nope'"),
    ("<identity />", "needs at least one attribute"),
    ('<identity subject="not a dn" />', "not a distinguished name"),
    ('<identity colour="red" />', "unsupported attribute"),
])
def test_validate_client_certificate_compile_errors(pki: Pki, client: Any, tmp_path: Path,
                                                    identity: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        pipeline(vcc(f"<identities>{identity}</identities>"),
                 env_of(store_with(pki, client, tmp_path)))


class FakeHttp:
    def __init__(self, body: bytes | None, status: int = 200) -> None:
        self.body, self.status, self.calls = body, status, 0

    async def __call__(self, method: str, url: str, headers: Any, body: Any, timeout: float
                       ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        self.calls += 1
        if self.body is None:
            raise ConnectionRefusedError("unreachable")
        return self.status, "OK", [], self.body


async def test_revocation_from_crl_distribution_points(pki: Pki) -> None:
    url = "http://crl.example/root.crl"
    good, _ = pki.issue("good", crl_url=url)
    bad, _ = pki.issue("bad", crl_url=url)
    bare, _ = pki.issue("bare")
    store = CertificateStore(anchors=[pki.cert])
    http = FakeHttp(pki.crl(revoked=[bad.serial_number]))
    env = CompileEnv(services={"certificates": store, "http": http})
    xml = vcc(rev="true")
    assert await status_of(xml, presented(good), env) == (200, None)
    assert await status_of(xml, presented(bad), env) == (403, "ClientCertificateRevoked")
    assert await status_of(xml, presented(bare), env) == (403, "ClientCertificateRevocationUnknown")
    assert http.calls == 1  # the CRL is kept until its next update
    for http2 in (FakeHttp(None), FakeHttp(b"junk"), FakeHttp(b"", status=404),
                  FakeHttp(Pki("Impostor").crl())):
        env2 = CompileEnv(services={"certificates": CertificateStore(anchors=[pki.cert]),
                                    "http": http2})
        assert await status_of(xml, presented(good), env2) == (
            403, "ClientCertificateRevocationUnknown")
    unknown_issuer = CompileEnv(services={"certificates": CertificateStore(), "http": http})
    ctx, _ = await run(xml, ctx=presented(good), env=unknown_issuer)
    assert "issuer certificate is not known" in json.loads(ctx.Response.Body.content or b"")[
        "message"]


# -- context.Request.Certificate in expressions ------------------------------------------
async def test_certificate_members_in_expressions(pki: Pki) -> None:
    cert, _ = pki.issue("", subject=name("api", C="US", O="Contoso, Inc."), serial=0x80)
    xml = doc(inbound='<set-header name="X-Subject" exists-action="override">'
                      '<value>@(context.Request.Certificate.Subject)</value></set-header>'
                      '<set-header name="X-Issuer" exists-action="override">'
                      '<value>@(context.Request.Certificate.Issuer)</value></set-header>'
                      '<set-header name="X-Thumb" exists-action="override">'
                      '<value>@(context.Request.Certificate.Thumbprint)</value></set-header>'
                      '<set-header name="X-Serial" exists-action="override">'
                      '<value>@(context.Request.Certificate.SerialNumber)</value></set-header>')
    ctx, backend = await run(xml, ctx=presented(cert))
    headers = dict(backend.calls[0]["headers"])
    assert headers["X-Thumb"] == thumb(cert) and headers["X-Serial"] == "0080"
    assert headers["X-Subject"] == 'CN=api, O="Contoso, Inc.", C=US'
    assert headers["X-Issuer"] == "CN=Test Root CA, O=Kubegate Tests"
    x = X509Certificate.of(cert)
    assert x.SerialNumber == serial_hex(0x80) == "0080" and x.Thumbprint == thumb(cert)
    assert x.NotAfter > x.NotBefore and x.Version == 3


def test_dn_helpers() -> None:
    assert parse_dn('CN=a, O="x, ""y"""') == (("CN", "a"), ("O", 'x, "y"'))
    assert parse_dn("st=Illinois; E=a@b.c") == (("E", "a@b.c"), ("S", "illinois"))
    with pytest.raises(ValueError):
        parse_dn('CN="open')
    assert format_dn(name("x", C="DE")) == "CN=x, C=DE"


# -- proxy -------------------------------------------------------------------------------
async def test_proxy_sets_the_route() -> None:
    xml = doc(inbound='<proxy url="http://10.0.0.5:3128" username="{{u}}" password="{{p}}" />')
    ctx, _ = await run(xml, env=CompileEnv(named_values={"u": "admin", "p": "secret123"}))
    assert ctx.backend_proxy == ProxyRoute("10.0.0.5", 3128,
                                           b"Basic " + base64.b64encode(b"admin:secret123"))
    ctx, _ = await run(doc(inbound='<proxy url="@(&quot;http://&quot; + '
                                   'context.Request.Headers.GetValueOrDefault(&quot;X-P&quot;, '
                                   '&quot;&quot;))" />'),
                       ctx=make_ctx(headers=[("X-P", "proxy.local")]))
    assert ctx.backend_proxy == ProxyRoute("proxy.local", 80, None)
    ctx, backend = await run(doc(inbound='<proxy url="@(&quot;https://x&quot;)" />'))
    assert ctx.Response.StatusCode == 500 and backend.calls == []


@pytest.mark.parametrize(("attrs", "message"), [
    ('url="https://proxy:443"', "expected an http://host:port proxy URL"),
    ('url="http://proxy:3128/path"', "without path"),
    ('url="http://proxy:3128" password="x"', "needs 'username'"),
    ('username="a"', "missing required attribute 'url'")])
def test_proxy_compile_errors(attrs: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        pipeline(doc(inbound=f"<proxy {attrs} />"))

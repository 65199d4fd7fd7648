"""Kubeconfig and in-cluster (service account + TLS) auth; `kubegate k8s nodeport`
and `openapi fix-host --k8s-service` against the fake API server."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubegate.cli.k8s_cmd import k8s
from kubegate.cli.openapi_cmd import openapi
from kubegate.sources.kubernetes import ApiUnavailable, KubeApi, load_config, make_client

from .conftest import write_kubeconfig
from .fakeapi import FakeApiServer, node, service


def make_tls(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "server.crt", tmp / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file


async def test_in_cluster_service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, cert_file = make_tls(tmp_path)
    server = await FakeApiServer(token="sa-token", ssl_context=ctx).start()
    server.put("services", service("shop", "a"))
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "namespace").write_text("shop")
    (sa / "ca.crt").write_bytes(cert_file.read_bytes())
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    api = KubeApi(make_client(load_config(service_account=sa)))
    try:
        items, rv = await api.list("services", "shop")
        assert [i["metadata"]["name"] for i in items] == ["a"] and rv == str(server.rv)
        assert server.url.startswith("https://")
    finally:
        await api.close()
        await server.stop()


async def test_kubeconfig_token_is_sent(
    fake_api: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    fake_api.put("nodes", node("n1", "10.0.0.1"))
    good = KubeApi(
        make_client(load_config(str(write_kubeconfig(tmp_path / "ok", fake_api.url, "t0ken"))))
    )
    bad = KubeApi(
        make_client(load_config(str(write_kubeconfig(tmp_path / "bad", fake_api.url, "nope"))))
    )
    try:
        assert len((await good.list("nodes"))[0]) == 1
        with pytest.raises(ApiUnavailable, match="401"):
            await bad.list("nodes")
    finally:
        await good.close()
        await bad.close()


@pytest.fixture
async def nodeport_cluster(fake_api: FakeApiServer) -> FakeApiServer:
    ports = [
        {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
        {"name": "admin", "port": 81, "targetPort": 8081, "nodePort": 30081},
    ]
    fake_api.put("services", service("shop", "orders", ports, type_="NodePort"))
    fake_api.put("services", service("shop", "internal"))
    fake_api.put("nodes", node("n1", "10.0.0.1"))
    fake_api.put("nodes", node("n2", "10.0.0.2", ready=False))
    fake_api.put("nodes", node("n3", "10.0.0.3"))
    return fake_api


def _run(args: list[str], kubeconfig: Path, group=k8s):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(group, [*args, "--kubeconfig", str(kubeconfig)])


async def test_cli_nodeport(nodeport_cluster: FakeApiServer, kubeconfig: Path) -> None:
    import asyncio

    res = await asyncio.to_thread(
        _run, ["nodeport", "orders", "-n", "shop", "--port", "admin"], kubeconfig
    )
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["10.0.0.1:30081", "10.0.0.3:30081"]
    res = await asyncio.to_thread(_run, ["nodeport", "orders", "-n", "shop"], kubeconfig)
    assert res.exit_code == 1 and "several" in res.output
    res = await asyncio.to_thread(_run, ["nodeport", "internal", "-n", "shop"], kubeconfig)
    assert res.exit_code == 1 and "ClusterIP" in res.output
    res = await asyncio.to_thread(_run, ["nodeport", "ghost", "-n", "shop"], kubeconfig)
    assert res.exit_code == 1 and "not found" in res.output


async def test_fix_host_from_k8s_service(
    nodeport_cluster: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    import asyncio

    spec = tmp_path / "in.json"
    spec.write_text(
        json.dumps({"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}})
    )
    out = tmp_path / "out.json"
    args = ["fix-host", str(spec), "--k8s-service", "shop/orders:http", "-o", str(out)]
    res = await asyncio.to_thread(_run, args, kubeconfig, openapi)
    assert res.exit_code == 0, res.output
    fixed = json.loads(out.read_text())
    assert fixed["host"] == "10.0.0.1:30080" and fixed["schemes"] == ["http"]

"""The Helm chart renders without Helm (deploy/render.py), the committed manifests
equal the rendering of the default values, and every manifest (chart, plain,
examples) validates offline against the Kubernetes OpenAPI schemas."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"


def _renderer() -> Any:
    spec = importlib.util.spec_from_file_location("kubegate_render", ROOT / "deploy" / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _renderer()


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def test_committed_manifests_match_the_chart() -> None:
    committed = (ROOT / "deploy" / "manifests" / "kubegate.yaml").read_text()
    assert committed == render.render_chart(), (
        "run: python deploy/render.py -o deploy/manifests/kubegate.yaml"
    )


@pytest.mark.parametrize(
    "sets",
    [
        [],
        [
            "rbac.clusterWide=false",
            "autoscaling.enabled=false",
            "podDisruptionBudget.enabled=false",
            "redis.url=redis://r:6379/0",
            "postgresql.existingSecret=pg",
            "policyXml=<policies/>",
            "kubernetes.watchNamespaces=[shop,billing]",
            "nodeSelector={disk: ssd}",
        ],
    ],
)
def test_rendered_chart_validates(sets: list[str]) -> None:
    docs = docs_of(render.render_chart(sets=sets))
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    kinds = by_kind(docs)
    if sets:
        assert "HorizontalPodAutoscaler" not in kinds and "PodDisruptionBudget" not in kinds
        assert "Role" in kinds and "ClusterRole" not in kinds
        deployment = kinds["Deployment"][0]
        assert deployment["spec"]["replicas"] == 2
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["KUBEGATE_REDIS_URL"]["value"] == "redis://r:6379/0"
        assert env["KUBEGATE_STORE"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "url"}
        assert env["KUBEGATE_WATCH_NAMESPACES"]["value"] == "shop,billing"
        assert kinds["ConfigMap"][0]["data"]["policy.xml"].strip() == "<policies/>"
    else:
        assert {
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "ClusterRole",
            "ClusterRoleBinding",
        } <= set(kinds)


def test_deployment_probes_drain_and_services() -> None:
    docs = docs_of(
        render.render_chart(
            sets=["config.gateway.timeouts.shutdown_grace=45", "drain.preStopSleep=7"]
        )
    )
    kinds = by_kind(docs)
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["terminationGracePeriodSeconds"] == 45 + 7 + 5
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "7"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "admin"}
    assert "--kubernetes" in container["args"]
    config = yaml.safe_load(kinds["ConfigMap"][0]["data"]["kubegate.yaml"])
    assert config["gateway"]["timeouts"]["shutdown_grace"] == 45
    services = {s["metadata"]["name"]: s["spec"] for s in kinds["Service"]}
    assert services["kubegate"]["type"] == "LoadBalancer"
    assert sorted(p["port"] for p in services["kubegate"]["ports"]) == [80, 443]
    assert services["kubegate-admin"]["type"] == "ClusterIP"


def test_rbac_is_read_only_plus_events() -> None:
    kinds = by_kind(docs_of(render.render_chart()))
    rules = kinds["ClusterRole"][0]["rules"]
    granted = {(r, v) for rule in rules for r in rule["resources"] for v in rule["verbs"]}
    read = {
        (r, v)
        for r in ("services", "endpointslices", "nodes", "configmaps")
        for v in ("get", "list", "watch")
    }
    assert granted == read | {("events", "create")}
    binding = kinds["ClusterRoleBinding"][0]
    assert binding["subjects"][0]["name"] == kinds["ServiceAccount"][0]["metadata"]["name"]


def test_examples_validate() -> None:
    files = sorted((ROOT / "examples" / "kubernetes").glob("*.yaml"))
    manifests = [f for f in files if f.name.startswith(("backend", "app"))]
    assert manifests, "examples/kubernetes has no manifests"
    docs = [d for f in manifests for d in docs_of(f.read_text())]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    annotated = [
        d
        for d in docs
        if d["kind"] == "Service" and "kubegate.io/path" in d["metadata"].get("annotations", {})
    ]
    assert len(annotated) == 2 and all(
        d["spec"].get("type", "ClusterIP") == "ClusterIP" for d in annotated
    )


def test_example_values_render_a_valid_kubegate_config(tmp_path: Path) -> None:
    from kubegate.sources.apim.xml_loader import load_policy_xml
    from kubegate.sources.yaml_config import load_config_text

    docs = docs_of(render.render_chart([ROOT / "examples" / "kubernetes" / "values.yaml"]))
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    data = by_kind(docs)["ConfigMap"][0]["data"]
    load_policy_xml(data["policy.xml"], "policy.xml")
    text = data["kubegate.yaml"].replace("/etc/kubegate/policy.xml", str(tmp_path / "policy.xml"))
    (tmp_path / "policy.xml").write_text(data["policy.xml"])
    load_config_text(text, "kubegate.yaml")
    example = load_config_text(
        (ROOT / "examples" / "kubernetes" / "kubegate.yaml").read_text(), "kubegate.yaml"
    )
    assert [p.name for p in example.products] == ["starter"]
    load_policy_xml((ROOT / "examples" / "kubernetes" / "policy.xml").read_text(), "policy.xml")


def test_renderer_subset_and_errors() -> None:
    r = render.Renderer(
        {"a": {"b": [1, 2]}, "s": 'x"y', "on": True}, "rel", "ns", {"name": "c", "version": "1"}
    )
    text = "{{- range .Values.a.b }}\n- {{ . }}{{ end }}\n{{ if .Values.on }}yes{{ else }}no{{ end }} {{ .Values.s | quote }}"
    assert r.render(text, "t") == '\n- 1\n- 2\nyes "x\\"y"'
    assert (
        r.render("{{ add 1 2 3 }} {{ default 5 .Values.missing }} {{ .Release.Namespace }}", "t")
        == "6 5 ns"
    )
    with pytest.raises(render.TemplateError, match="unsupported"):
        r.render('{{ include "x" . }}', "t")
    with pytest.raises(render.TemplateError, match="without end"):
        r.render("{{ if .Values.on }}x", "t")

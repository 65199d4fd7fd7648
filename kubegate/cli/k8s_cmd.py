"""`kubegate k8s ...`: Kubernetes helpers for a gateway outside the cluster."""

from __future__ import annotations

import sys

import click

from kubegate.sources.kubernetes.client import ApiUnavailable
from kubegate.sources.kubernetes.nodeport import NodePortError, resolve_nodeport


@click.group(name="k8s")
def k8s() -> None:
    """Kubernetes helpers (NodePort lookup)."""


@k8s.command("nodeport")
@click.argument("service")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--port", default="", help="Service port name or number (needed when it has several)")
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False), help="default: $KUBECONFIG, ~/.kube/config"
)
@click.option("--context", help="kubeconfig context (default: the current one)")
def nodeport(
    service: str, namespace: str, port: str, kubeconfig: str | None, context: str | None
) -> None:
    """Print NODE-IP:NODE-PORT for SERVICE on every Ready node."""
    try:
        addresses = resolve_nodeport(
            namespace, service, port, kubeconfig=kubeconfig, context=context
        )
    except (NodePortError, ApiUnavailable) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - kubeconfig problems of every kind
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    if not addresses:
        click.echo(f"error: no Ready node with an InternalIP for {namespace}/{service}", err=True)
        sys.exit(1)
    for host, node_port in addresses:
        click.echo(f"{host}:{node_port}")

"""Kubernetes source: reflectors over the API (lightkube), backend resolution for
`k8s://` and `nodeport://`, a balancer, and Service/ConfigMap discovery."""

from kubegate.sources.kubernetes.balancer import STRATEGIES, Balancer, NoAddress
from kubegate.sources.kubernetes.client import (
    ApiUnavailable,
    Gone,
    KubeApi,
    load_config,
    make_client,
)
from kubegate.sources.kubernetes.cluster import ALL_KINDS, ClusterState
from kubegate.sources.kubernetes.controller import Controller, namespaces_from_env
from kubegate.sources.kubernetes.discovery import Discovery, Status, http_fetch
from kubegate.sources.kubernetes.endpoints import EndpointTable
from kubegate.sources.kubernetes.nodeport import (
    NodePortError,
    parse_service_ref,
    resolve_nodeport,
    resolve_nodeport_async,
)
from kubegate.sources.kubernetes.reflector import Backoff, Reflector
from kubegate.sources.kubernetes.resolve import Address, BackendRef, parse_ref

__all__ = [
    "ALL_KINDS",
    "STRATEGIES",
    "Address",
    "ApiUnavailable",
    "BackendRef",
    "Backoff",
    "Balancer",
    "ClusterState",
    "Controller",
    "Discovery",
    "EndpointTable",
    "Gone",
    "KubeApi",
    "NoAddress",
    "NodePortError",
    "Reflector",
    "Status",
    "http_fetch",
    "load_config",
    "make_client",
    "namespaces_from_env",
    "parse_ref",
    "parse_service_ref",
    "resolve_nodeport",
    "resolve_nodeport_async",
]

"""The declarative configuration: gateway listeners, APIs, operations, and the
places later layers fill (policies, products, subscriptions, named values).

Every class forbids unknown fields so that a typo is an error, not a silent default.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REDIS_URL_ENV = "KUBEGATE_REDIS_URL"  # set by the Helm chart's redis.url
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
BACKEND_SCHEMES = ("http", "https", "k8s", "nodeport")
_TEMPLATE_SEGMENT = re.compile(r"^(\{[A-Za-z_][A-Za-z0-9_.\-]*\}|[^{}]*)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_host_port(value: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """`HOST:PORT`, `:PORT`, `PORT` or `[v6]:PORT` -> (host, port)."""
    text = value.strip()
    if text.isdigit():
        host, port_text = default_host, text
    elif text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPv6]:PORT, got {value!r}")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        host = host or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port in {value!r}")
    return host, int(port_text)


class Tls(Strict):
    certificate: str
    key: str
    client_certificate: Literal["off", "optional", "required"] = Field(
        "off", description="ask clients for a certificate (mutual TLS); its chain must lead to "
        "client_ca, its dates and identity are checked by validate-client-certificate")
    client_ca: str | None = Field(None, description="PEM bundle of CAs client certificates chain to")

    @model_validator(mode="after")
    def _client_ca(self) -> Tls:
        if self.client_certificate != "off" and not self.client_ca:
            raise ValueError(f"client_certificate: {self.client_certificate} needs client_ca "
                             "(the CA certificates client certificates must chain to)")
        if self.client_ca and self.client_certificate == "off":
            raise ValueError("client_ca is set but client_certificate is off: "
                             "set client_certificate: optional or required")
        return self


class Listener(Strict):
    address: str = "0.0.0.0:8080"
    tls: Tls | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        parse_host_port(v)
        return v

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_host_port(self.address)


class Limits(Strict):
    """Request limits; defaults follow nginx's."""

    max_request_line: int = Field(8192, gt=0)
    max_header_size: int = Field(32768, gt=0, description="all header bytes of one request")
    max_headers: int = Field(100, gt=0)
    max_body_size: int = Field(1024 * 1024, ge=0, description="bytes; 0 = unlimited")


class Timeouts(Strict):
    """Seconds."""

    connect: float = Field(5.0, gt=0)
    response: float = Field(60.0, gt=0, description="backend silent for this long -> 504")
    idle: float = Field(75.0, gt=0, description="client keep-alive idle")
    header: float = Field(60.0, gt=0, description="whole request head must arrive within")
    shutdown_grace: float = Field(30.0, ge=0)


class Upstream(Strict):
    max_idle_per_backend: int = Field(1024, ge=0)
    idle_timeout: float = Field(60.0, gt=0)


class Counters(Strict):
    """Where rate-limit and quota counters live."""

    store: Literal["memory", "redis"] = "memory"
    redis_url: str | None = Field(None, description="redis://, rediss://, redis+sentinel://")
    redis_cluster: bool = False
    fail_mode: Literal["fail-open", "fail-closed"] = "fail-open"
    timeout: float = Field(0.25, gt=0, description="seconds before a counter call gives up")

    @model_validator(mode="after")
    def _redis_needs_url(self) -> Counters:
        if self.store == "redis" and not self.redis_url and not os.environ.get(REDIS_URL_ENV):
            raise ValueError(f"counters.store: redis needs counters.redis_url (or {REDIS_URL_ENV})")
        return self


class Tracing(Strict):
    """OpenTelemetry span export (OTLP over HTTP/protobuf). Absent: tracing is off."""
    otlp_endpoint: str = Field(
        description="the collector's traces URL, e.g. http://otel-collector:4318/v1/traces")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="sent with every export (e.g. an API key)")
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="share of new traces recorded; a caller's sampled flag "
        "in traceparent is honoured")
    service_name: str = "kubegate"
    timeout: float = Field(10.0, gt=0, description="seconds per export call")

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v


class Observability(Strict):
    access_log: str | None = Field(None, description='"-" for stdout, a file path, or none (off)')
    access_log_sample: float = Field(1.0, ge=0, le=1)
    request_id_header: str | None = Field(
        "X-Request-Id", description="passed through, or generated and added both ways; none: off")
    tracing: Tracing | None = Field(
        None, description="OTLP span export and a new span id in traceparent; none: off, and "
        "traceparent passes through unchanged")


class Gateway(Strict):
    listeners: list[Listener] = Field(default_factory=lambda: [Listener()])
    admin: str = "127.0.0.1:8081"
    workers: int = Field(1, ge=1, le=256)
    limits: Limits = Field(default_factory=Limits)  # type: ignore[arg-type]
    timeouts: Timeouts = Field(default_factory=Timeouts)  # type: ignore[arg-type]
    upstream: Upstream = Field(default_factory=Upstream)  # type: ignore[arg-type]
    forwarded_headers: bool = True
    counters: Counters = Field(default_factory=Counters)  # type: ignore[arg-type]
    observability: Observability = Field(default_factory=Observability)  # type: ignore[arg-type]
    store: str | None = Field(
        None, description="subscriptions store URL (sqlite:///file.db, postgresql://...); "
        "none: only subscriptions declared in this file")

    @field_validator("admin")
    @classmethod
    def _admin(cls, v: str) -> str:
        parse_host_port(v, "127.0.0.1")
        return v


def check_template(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    seen: set[str] = set()
    for segment in path.split("/")[1:]:
        if not _TEMPLATE_SEGMENT.match(segment):
            raise ValueError(f"invalid template segment {segment!r} in {path!r}")
        if segment.startswith("{"):
            if segment in seen:
                raise ValueError(f"parameter {segment} repeated in {path!r}")
            seen.add(segment)
    return path


class Operation(Strict):
    method: str
    path: str
    id: str | None = None
    display_name: str | None = None
    policy: str | None = Field(None, description="policy document (file path or inline XML)")

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        m = v.upper()
        if m != "*" and m not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {v!r}")
        return m

    _path = field_validator("path")(classmethod(lambda cls, v: check_template(v)))


def check_backend_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in BACKEND_SCHEMES or not rest or rest.startswith("/"):
        raise ValueError(
            f"backend must be an absolute URL with scheme {', '.join(BACKEND_SCHEMES)}: {url!r}"
        )
    return url


class Api(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    path: str = Field(description="API URL suffix: the prefix under which the API is served")
    backend: str | None = None
    openapi: str | None = Field(None, description="spec file or URL to import operations from")
    operations: list[Operation] | None = Field(
        None, description="absent: every method and path under the prefix is forwarded"
    )
    policy: str | None = None
    subscription_required: bool = False
    subscription_key_header: str = Field(
        "Ocp-Apim-Subscription-Key", min_length=1,
        description="request header carrying the subscription key (checked first)")
    subscription_key_query: str = Field(
        "subscription-key", min_length=1,
        description="query parameter carrying the key when the header is absent")
    publish_openapi: bool = Field(
        False, description="serve the imported spec, pointed at the gateway, at <path>/openapi.json")
    validate_requests: bool = Field(
        False, description="check parameters and JSON bodies against the imported spec (400)")

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        v = "/" + v.strip("/") if v.strip("/") else ""
        if v:
            check_template(v)
            if "{" in v:
                raise ValueError("an API path prefix cannot hold template parameters")
        return v

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str | None) -> str | None:
        return None if v is None else check_backend_url(v)

    @model_validator(mode="after")
    def _needs_backend(self) -> Api:
        if self.backend is None and self.openapi is None:
            raise ValueError("an API needs a backend URL (or an openapi spec to take it from)")
        seen: set[tuple[str, str]] = set()
        for op in self.operations or ():
            key = (op.method, re.sub(r"\{[^}]*\}", "{}", op.path))
            if key in seen:
                raise ValueError(f"duplicate operation {op.method} {op.path}")
            seen.add(key)
        return self


class Product(Strict):
    name: str
    apis: list[str] = Field(default_factory=list)
    subscription_required: bool = True
    approval_required: bool = False
    policy: str | None = None


class Subscription(Strict):
    name: str
    scope: str = Field(description="product:<name>, api:<name> or all")
    primary_key: str | None = None
    secondary_key: str | None = None
    state: Literal["active", "suspended", "cancelled", "expired"] = "active"


class Certificate(Strict):
    """A certificate the gateway holds: presented to backends (authentication-certificate)
    or named as an issuer (validate-client-certificate). Files are relative to the config."""

    cert_file: str | None = Field(None, description="PEM certificate (chain may follow)")
    key_file: str | None = Field(None, description="PEM private key (for authentication-certificate)")
    pfx_file: str | None = Field(None, description="PKCS#12 (.pfx/.p12) with certificate and key")
    password: str | None = Field(None, description="of the PFX file or of an encrypted key_file")

    @model_validator(mode="after")
    def _one_source(self) -> Certificate:
        if (self.cert_file is None) == (self.pfx_file is None):
            raise ValueError("a certificate needs exactly one of cert_file or pfx_file")
        if self.key_file is not None and self.pfx_file is not None:
            raise ValueError("key_file goes with cert_file (a PFX file holds its key)")
        return self


class Config(Strict):
    gateway: Gateway = Field(default_factory=Gateway)  # type: ignore[arg-type]
    apis: list[Api] = Field(default_factory=list)
    policy: str | None = Field(None, description="global-scope policy document")
    products: list[Product] = Field(default_factory=list)
    subscriptions: list[Subscription] = Field(default_factory=list)
    named_values: dict[str, str] = Field(default_factory=dict)
    certificates: dict[str, Certificate] = Field(
        default_factory=dict, description="certificate id -> files (authentication-certificate "
        "certificate-id / thumbprint, validate-client-certificate issuer-certificate-id)")

    @model_validator(mode="after")
    def _unique(self) -> Config:
        names: set[str] = set()
        paths: dict[str, str] = {}
        for api in self.apis:
            if api.name in names:
                raise ValueError(f"duplicate API name {api.name!r}")
            names.add(api.name)
            if api.path in paths:
                raise ValueError(
                    f"API {api.name!r} uses path {api.path or '/'!r} already used by {paths[api.path]!r}"
                )
            paths[api.path] = api.name
        return self


def empty_config() -> dict[str, Any]:
    return Config().model_dump()

"""Backend addresses resolved at compile time, so a request only reads fields."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from kubegate.model.errors import ConfigError

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Backend:
    """An HTTP(S) origin plus a base path. `key` identifies its connection pool."""

    scheme: str
    host: str
    port: int
    base_path: str  # "" or "/base" without trailing slash
    host_header: bytes
    ref: str | None = None  # k8s://ns/svc:port or nodeport://...: addresses resolved at run time

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.ref or self.host, self.port)

    @property
    def url(self) -> str:
        if self.ref is not None:
            return self.ref + self.base_path
        return f"{self.scheme}://{self.host_header.decode()}{self.base_path}"

    def at(self, host: str, port: int) -> Backend:
        """The same backend at one concrete address (a pod or a node)."""
        return Backend("http", host, port, self.base_path, self.host_header)


def parse_service_backend(url: str, where: str) -> Backend:
    """`k8s://namespace/service:port[/base]` or `nodeport://...`: a Service, not an address.

    Inside a cluster the gateway balances over the Service's ready endpoints (or node
    ports) it watches; without the Kubernetes integration a k8s:// backend with a
    numeric port goes to the Service's cluster DNS name."""
    from kubegate.sources.kubernetes.resolve import parse_ref  # only for such backends

    scheme, _, rest = url.partition("://")
    service_part, slash, base = rest.partition("/")
    namespace = service_part
    service_port, slash2, base = base.partition("/")
    try:
        ref = parse_ref(f"{scheme}://{namespace}/{service_port}")
    except ValueError as exc:
        raise ConfigError.one(str(exc), field=where) from None
    if not slash:
        raise ConfigError.one(f"expected {scheme}://namespace/service:port, got {url!r}", field=where)
    port = int(ref.port) if ref.port.isdigit() else 0
    shown = ref.dns_name + (f":{port}" if port else "")
    base_path = ("/" + base).rstrip("/") if slash2 else ""
    return Backend(scheme, ref.dns_name, port, base_path, shown.encode("ascii"),
                   f"{scheme}://{ref.namespace}/{ref.service}" + (f":{ref.port}" if ref.port else ""))


def parse_backend(url: str, where: str = "backend") -> Backend:
    parts = urlsplit(url)
    if parts.scheme in ("k8s", "nodeport"):
        return parse_service_backend(url, where)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError.one(f"not an http(s) URL: {url!r}", field=where)
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError.one(f"invalid port in {url!r}", field=where) from None
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        shown += f":{port}"
    if parts.query or parts.fragment:
        raise ConfigError.one(f"a backend URL has no query or fragment: {url!r}", field=where)
    return Backend(parts.scheme, host, port, parts.path.rstrip("/"), shown.encode("ascii", "strict"))

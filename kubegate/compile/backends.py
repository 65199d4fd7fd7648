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

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header.decode()}{self.base_path}"


def parse_backend(url: str, where: str = "backend") -> Backend:
    parts = urlsplit(url)
    if parts.scheme in ("k8s", "nodeport"):
        raise ConfigError.one(
            f"{parts.scheme}:// backends need the Kubernetes integration, which is not available "
            "in this build yet; use an http(s):// URL",
            field=where,
        )
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

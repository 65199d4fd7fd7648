"""Choose the backend URL for an imported API, and say why.

Order: explicit backend > OpenAPI 3 `servers[0]` (or Swagger 2 `x-servers[0]`),
relative URLs resolved against the spec's own URL > Swagger 2
`schemes`/`host`/`basePath` > the origin of the URL the spec was fetched from.
Every rule tried is recorded in `steps`; nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from kubegate.model.config import check_backend_url
from kubegate.sources.openapi.model import ApiSpec

NO_BACKEND = "no backend URL: pass --backend or set backend:"


@dataclass
class BackendChoice:
    url: str | None
    reason: str
    steps: list[str] = field(default_factory=list)


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _clean(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _from_servers(spec: ApiSpec, spec_url: str | None, steps: list[str]) -> BackendChoice | None:
    label = "servers[0]" if spec.dialect != "2.0" else "x-servers[0]"
    if not spec.server.servers:
        steps.append(f"{label}: none in the spec")
        return None
    first = spec.server.servers[0]
    if _absolute(first):
        steps.append(f"{label}: {first}")
        return BackendChoice(_clean(first), f"from {label} {first!r}", steps)
    if spec_url and _absolute(spec_url) and "{" not in first and "://" not in first:
        url = urljoin(spec_url, first)
        steps.append(f"{label}: relative {first!r} resolved against the spec URL -> {url}")
        return BackendChoice(_clean(url), f"from {label} {first!r} relative to {spec_url}", steps)
    why = "the spec was read from a file" if not spec_url else "it is not a usable URL"
    steps.append(f"{label}: {first!r} is not absolute and {why}")
    return None


def _from_host(spec: ApiSpec, spec_url: str | None, steps: list[str]) -> BackendChoice | None:
    info = spec.server
    if not info.host:
        steps.append("host: none in the spec")
        return None
    if "https" in info.schemes:
        scheme, why = "https", "schemes lists https"
    elif info.schemes:
        scheme, why = info.schemes[0], f"schemes[0] is {info.schemes[0]}"
    elif spec_url and _absolute(spec_url):
        scheme, why = urlsplit(spec_url).scheme, "no schemes; the spec URL's scheme"
    else:
        scheme, why = "http", "no schemes; http"
    base = info.base_path or ""
    url = f"{scheme}://{info.host}{'/' + base.strip('/') if base.strip('/') else ''}"
    steps.append(f"host: {info.host}, basePath {base or '(none)'}, {why} -> {url}")
    return BackendChoice(url, f"from host/basePath/schemes ({why})", steps)


def resolve_backend(
    spec: ApiSpec, explicit: str | None = None, spec_url: str | None = None
) -> BackendChoice:
    """`spec_url` is the URL the spec was fetched from (None when read from a file)."""
    steps: list[str] = []
    if explicit:
        check_backend_url(explicit)
        steps.append(f"explicit backend: {explicit}")
        return BackendChoice(explicit.rstrip("/") or explicit, "explicit backend", steps)
    steps.append("explicit backend: not given")
    choice = _from_servers(spec, spec_url, steps)
    if choice is None and spec.dialect == "2.0":
        choice = _from_host(spec, spec_url, steps)
    if choice is not None:
        try:
            check_backend_url(choice.url or "")
        except ValueError as exc:
            steps.append(f"rejected: {exc}")
        else:
            return choice
    if spec_url and _absolute(spec_url):
        base = spec.server.base_path if spec.dialect == "2.0" else None
        url = _origin(spec_url) + ("/" + base.strip("/") if base and base.strip("/") else "")
        steps.append(f"spec URL origin: {url}")
        return BackendChoice(url, f"origin of the spec URL {spec_url}", steps)
    steps.append("spec URL origin: the spec was not fetched by URL")
    return BackendChoice(None, NO_BACKEND, steps)

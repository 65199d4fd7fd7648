"""nginx configurations for the fixed backend and the reverse-proxy peer.

Both are rendered as text for a private prefix directory (pid file, logs and
temp paths inside it), so nginx runs unprivileged-friendly next to any system
nginx and leaves nothing behind but that directory.
"""

from __future__ import annotations

import json
from pathlib import Path

# ~200 bytes, the same for every run so bytes/request is comparable.
BODY = json.dumps(
    {
        "id": 1,
        "name": "benchmark item",
        "description": "A fixed JSON body served by the nginx backend for kubegate benchmarks.",
        "tags": ["bench", "fixed", "json"],
        "price": 12.5,
        "available": True,
        "currency": "EUR",
    },
    separators=(",", ":"),
)


def _common(prefix: Path) -> str:
    p = prefix
    return f"""\
worker_processes 1;
daemon off;
master_process on;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
worker_rlimit_nofile 65536;
events {{
    worker_connections 16384;
    multi_accept on;
}}
"""


def _http_common(prefix: Path) -> str:
    p = prefix
    return f"""\
    access_log off;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
"""


def backend_conf(prefix: Path, port: int, body: str = BODY) -> str:
    """nginx answering every request with 200 and a fixed JSON body."""
    escaped = body.replace("\\", "\\\\").replace("'", "\\'")
    return (
        _common(prefix)
        + "http {\n"
        + _http_common(prefix)
        + f"""\
    default_type application/json;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            return 200 '{escaped}';
        }}
    }}
}}
"""
    )


def proxy_conf(prefix: Path, port: int, backend_port: int, location: str = "/api/") -> str:
    """nginx reverse proxy: strips ``location`` and keeps upstream connections alive."""
    return (
        _common(prefix)
        + "http {\n"
        + _http_common(prefix)
        + f"""\
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 1024;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location {location} {{
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""
    )


def command(nginx: str, prefix: Path, conf: Path) -> list[str]:
    return [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]

"""Turn a parsed request head into an Exchange: validate, route, re-frame.

Everything here runs once per request on the hot path, so it is a single pass
over the headers and plain bytes concatenation.
"""

from __future__ import annotations

import re
from time import time
from typing import TYPE_CHECKING, Any, Final

import httptools

from kubegate.compile.router import BadPath, split_path
from kubegate.compile.snapshot import PUBLISHED_HOST
from kubegate.policies.context import host_and_port
from kubegate.policies.context_http import Headers, MessageBody, Request, Url
from kubegate.policies.context_info import ApiInfo, OperationInfo
from kubegate.policies.runtime import HeadWait
from kubegate.policies.state import PolicyContext
from kubegate.policies.subscription import FULL_CHECK
from kubegate.proxy.errors import NOT_FOUND_MESSAGE, json_error, response_bytes
from kubegate.proxy.exchange import Exchange, Queued
from kubegate.proxy.headers import (
    REQUEST_SPECIAL,
    connection_tokens,
    is_chunked_only,
    valid_content_length,
    without_fields,
)
from kubegate.proxy.held import HeldExchange
from kubegate.proxy.policy_exchange import PolicyExchange

if TYPE_CHECKING:
    from kubegate.compile.router import Match
    from kubegate.compile.snapshot import RouteTarget
    from kubegate.observability.otel import RequestSpan, RequestTracer
    from kubegate.proxy.client import ClientConnection
    from kubegate.proxy.server import ServerState

    # (match, method, normalised path, request line start, Host field, pool, head gate)
    Route = tuple[Match[RouteTarget], str, str, bytes, bytes, Any, Any]

PUBLISHED = PUBLISHED_HOST.encode()
TRACE_HEADER: Final = b"x-kubegate-trace"
# request fields policies do not see (hop-by-hop, those the gateway re-derives, and
# the live-trace switch)
POLICY_HIDDEN = (REQUEST_SPECIAL - {b"host", b"content-length", b"x-forwarded-for"}) | {TRACE_HEADER}
CRLF: Final = b"\r\n"
INF: Final = float("inf")
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_HOST: Final = re.compile(rb"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_~%!$&'()*+,;=]*)(:[0-9]*)?$")


def _local(conn: ClientConnection, status: int, message: str, keep_alive: bool,
           head_only: bool = False) -> Exchange:
    if not keep_alive:
        conn.dead = True  # the rest of the stream cannot be trusted: stop parsing it
        conn.closing = True
    body = json_error(status, message, keep_alive=keep_alive, head_only=head_only)
    ex = Exchange(conn, None, b"", keep_alive=keep_alive, local=body)
    ex.status = status
    return ex


def _published(conn: ClientConnection, template: bytes, host: bytes | None, keep_alive: bool,
               head_only: bool) -> Exchange:
    """A spec the gateway serves itself, pointed at the host the client used."""
    origin = conn.scheme + b"://" + (host or b"localhost")
    body = template.replace(b"http://" + PUBLISHED, origin).replace(
        b'"host":"' + PUBLISHED + b'","schemes":["http"]',
        b'"host":"' + (host or b"localhost") + b'","schemes":["' + conn.scheme + b'"]')
    ex = Exchange(conn, None, b"", keep_alive=keep_alive, local=response_bytes(
        200, body, keep_alive=keep_alive, head_only=head_only))
    ex.status = 200
    return ex


def begin_exchange(conn: ClientConnection) -> Queued:
    server = conn.server
    parser = conn.parser
    method = parser.get_method()
    version = conn.http_version(method)
    keep_alive = parser.should_keep_alive() and not conn.closing
    head_only = method == b"HEAD"
    if version not in ("1.1", "1.0"):
        return _local(conn, 505, "HTTP version not supported", False)
    headers = conn.headers
    if len(headers) > server.max_headers:
        return _local(conn, 431, "Too many request header fields", False)
    url = conn.url
    if len(url) > server.max_request_line:
        return _local(conn, 414, "Request-URI too long", False)
    if conn.head_chunk > server.max_header_size and (
            sum(len(n) + len(v) for n, v in headers) + 4 * len(headers) > server.max_header_size):
        return _local(conn, 431, "Request header fields too large", False)

    host: bytes | None = None
    hosts = 0
    lengths: list[bytes] = []
    encodings: list[bytes] = []
    connection: list[bytes] = []
    expect = upgrade = xff = rid = traceparent = None
    traced = False
    rid_name = server.rid_name
    intercepted = server.intercepted
    key_fields = server.key_fields  # (subscription-key fields, in intercepted)
    fwd: list[bytes] = []
    # (field, name, value, index in fwd) of key fields: their lines are made only if
    # forwarded (below); until then fwd holds b"" in their place
    keys: list[tuple[bytes, bytes, bytes, int]] = []
    for name, value in headers:
        low = _LOWER.get(name)  # the same lowered object for a name seen before: its
        if low is None:         # hash is computed once, not per request
            low = name.lower()
            if len(_LOWER) >= LOWER_CACHE_SIZE:
                _LOWER.clear()
            _LOWER[name] = low
        if low in intercepted:
            if low == b"host":
                hosts += 1
                host = value
            elif low in key_fields:  # noted, and forwarded unless a key check takes it
                keys.append((low, name, value, len(fwd)))
                fwd.append(b"")
            elif low == b"content-length":
                lengths.append(value)
            elif low == b"transfer-encoding":
                encodings.append(value)
            elif low == b"connection":
                connection.append(value)
            elif low == b"expect":
                expect = value
            elif low == b"upgrade":
                upgrade = value
            elif low == b"x-forwarded-for":
                xff = value if xff is None else xff + b", " + value
            elif low == b"traceparent":
                if server.tracer is None:  # passed through unchanged
                    fwd.append(name + b": " + value + CRLF)
                else:  # a second one makes it invalid: a new trace starts
                    traceparent = value if traceparent is None else b"-"
            elif low == TRACE_HEADER:  # asks for the policies' live trace: never forwarded
                traced = traced or value.strip().lower() == b"true"
            elif low == rid_name:  # the request id: kept unless too long (below)
                rid = value
            continue
        fwd.append(name + b": " + value + CRLF)

    # -- framing and Host: anything ambiguous is refused and the connection closed
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        return _local(conn, 400, "Bad request: exactly one Host header is required", False)
    host_line = None  # the X-Forwarded-Host line (none for an empty Host)
    if host:
        if host == conn.last_host:  # (a client repeats its Host: no hashing then)
            host_line = conn.last_host_line
        else:
            host_line = server.valid_hosts.get(host)
            if host_line is None:
                if not _HOST.match(host):
                    return _local(conn, 400, "Bad request: invalid Host header", False)
                host_line = b"x-forwarded-host: " + host + CRLF
                if len(server.valid_hosts) < 1024:  # a handful of names in practice
                    server.valid_hosts[host] = host_line
            conn.last_host, conn.last_host_line = host, host_line
    chunked = False
    length = 0
    if encodings:
        if lengths or version == "1.0" or not is_chunked_only(encodings):
            return _local(conn, 400, "Bad request: unsupported Transfer-Encoding framing", False)
        chunked = True
    elif lengths:
        parsed = valid_content_length(lengths)
        if parsed is None:
            return _local(conn, 400, "Bad request: invalid Content-Length", False)
        length = parsed
    max_body = server.max_body
    if max_body and length > max_body:
        return _local(conn, 413, "Request entity too large", False, head_only)

    # -- request target
    if url[:1] == b"/":
        # (partition, not find: bytes.find parses its arguments the old, slow way)
        path, _, query = url.partition(b"?")
    elif url[:7].lower() == b"http://" or url[:8].lower() == b"https://":
        try:
            # Any: httptools' stubs say bytes, but absent parts are None, and the compiled
            # module (kubegate/native.py) would enforce the stubs
            parsed_url: Any = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            return _local(conn, 400, "Bad request: invalid request target", False)
        url_path: bytes | None = parsed_url.path
        url_query: bytes | None = parsed_url.query
        url_host: bytes = parsed_url.host
        url_port: int | None = parsed_url.port
        path, query = url_path or b"/", url_query or b""
        host = url_host + (b":%d" % url_port if url_port else b"")
        host_line = b"x-forwarded-host: " + host + CRLF if host else None
    else:
        return _local(conn, 400, "Bad request: unsupported request target form", False)
    # -- routing: recent results are kept per snapshot (a hot path is routed once)
    route_key = method + b" " + path
    routes = server.routes
    found = routes.get(route_key, MISSING)
    if found is MISSING:
        try:
            found = _route(server, method, path)
        except (BadPath, UnicodeDecodeError) as exc:
            return _local(conn, 400, f"Bad request: invalid path ({exc})", False)
        if len(routes) >= ROUTE_CACHE_SIZE:
            routes.clear()
        routes[route_key] = found
    if found is None:
        return _local(conn, 404, NOT_FOUND_MESSAGE, keep_alive, head_only)
    route: Route = found  # (typed: unpacked natively)
    match, method_text, normalised, line_start, host_field, pool, head_gate = route
    target = match.target
    if target.static is not None:
        return _published(conn, target.static, host, keep_alive, head_only)

    # -- expectations and upgrades
    if expect is not None:
        if expect.strip().lower() != b"100-continue":
            return _local(conn, 417, "Expectation failed", False)
        if version == "1.1" and (chunked or length) and not conn.queue:
            conn.write(CONTINUE)
    tokens = connection_tokens(connection) if connection else None
    is_upgrade = bool(upgrade is not None and tokens and b"upgrade" in tokens)
    copied_as_sent = True  # fwd holds every copied line, at the index noted in keys
    if tokens:
        tokens -= {b"keep-alive", b"close", b"upgrade"}
        if tokens:
            _key_lines(fwd, keys, None)
            fwd = without_fields(fwd, tokens)
            copied_as_sent = False

    # -- a key check whose policies need no context decides on the raw head (SubscriptionGate)
    pipeline = target.pipeline
    subscription: Any = None  # the admitted subscription's id
    held: Any = None  # the HeadWait of a verdict still to come
    taken = None  # the key field a head check took (not forwarded)
    if head_gate is not None and not (traced or is_upgrade):
        admit, field = head_gate
        key = None
        at = -1  # the key line's index in fwd; -2: the key was sent twice
        for low, _, value, index in keys:
            if low == field:
                at, key = (index if at == -1 else -2), value
        admitted = admit(key, query, conn.client_ip) if at != -2 else FULL_CHECK
        if admitted is not FULL_CHECK:  # goes on as on a plain route, less the key header
            if admitted.__class__ is HeadWait:  # once its counter store answers
                held = admitted
                subscription = held.subscription
            else:
                subscription = admitted
            taken = field
            if at >= 0 and not copied_as_sent:
                fwd = without_fields(fwd, {field})
            pipeline = None
    if keys and copied_as_sent:
        _key_lines(fwd, keys, taken)

    # -- the upstream request head (for a policy path: up to the framing, used when the
    # policies leave the request as it came)
    lines = [line_start]  # few pieces: b"".join pays per piece
    if query:
        lines += (b"?", query)
    lines.append(host_field)
    copied = len(lines)
    lines += fwd
    if server.forwarded_headers:
        if xff:
            lines += (b"x-forwarded-for: ", xff, b", ", conn.client_ip, CRLF,
                      b"x-forwarded-proto: ", conn.scheme, CRLF)
        else:
            lines.append(conn.forwarded)
        if host_line is not None:
            lines.append(host_line)
    if rid_name is not None:
        if rid is None or len(rid) > 200:
            rid = server.next_request_id()
        lines += (server.rid_line, rid, CRLF)
    span = None
    if server.tracer is not None:
        span = start_span(server.tracer, method_text, target, normalised, host, conn, traceparent)
        lines += (b"traceparent: ", span.traceparent, CRLF)
    if pipeline is not None:
        policy = policy_exchange(conn, match, method_text, normalised, query, headers, host,
                                 keep_alive and not is_upgrade, head_only, version == "1.0",
                                 rid, span, traced)
        policy.pool = pool
        if traced or is_upgrade:
            return policy
        policy.prefix = (lines, copied, len(fwd))
        lane = getattr(pipeline, "lane", None)
        if lane is None or chunked or length:
            return policy
        return policy.run_lane(lane)  # no body: decide now
    if chunked:
        lines.append(b"transfer-encoding: chunked\r\n")
    elif lengths:
        lines.append(b"content-length: %d\r\n" % length)
    if is_upgrade:
        assert upgrade is not None
        conn.upgrade_value = upgrade
        lines += (b"connection: upgrade\r\nupgrade: ", upgrade, CRLF)
    lines.append(CRLF)
    if held is None:
        ex = Exchange(conn, pool, b"".join(lines), chunked, head_only,
                      keep_alive, is_upgrade, version == "1.0", None, max_body or INF)
    else:
        ex = HeldExchange(conn, pool, b"".join(lines), chunked, head_only,
                          keep_alive, is_upgrade, version == "1.0", None, max_body or INF)
        ex.hold(held)
    ex.target = target
    ex.rid = rid
    ex.span = span
    ex.subscription = subscription
    return ex


def _key_lines(fwd: list[bytes], keys: list[tuple[bytes, bytes, bytes, int]],
               taken: bytes | None) -> None:
    """Put the lines of the key fields noted in `keys` in their places in `fwd`, but
    for field `taken` (whose place stays empty)."""
    for low, name, value, index in keys:
        if low != taken:
            fwd[index] = name + b": " + value + CRLF


MISSING: Final = object()
_LOWER: Final[dict[bytes, bytes]] = {}  # header name as sent -> lower-cased
LOWER_CACHE_SIZE: Final = 4096  # names kept (a full table is emptied: memory stays bounded)
ROUTE_CACHE_SIZE = 4096  # distinct method + path pairs kept per worker


def _route(server: ServerState, method: bytes, path: bytes) -> Route | None:
    """Route a request path on the current snapshot: (match, method, normalised path,
    the upstream request line up to the query, the rest of that line with the backend's
    Host field, the backend's pool, and (admit_head, key field) when the operation's
    key check decides on the raw head, else None), or None when no operation matches.
    BadPath or UnicodeDecodeError for a path that cannot be routed safely."""
    segments, normalised = split_path(path.decode("ascii"))
    method_text = method.decode("ascii")
    match = server.snapshot.router.lookup(method_text, segments)
    if match is None:
        return None
    depth = len(segments) - len(match.rest)
    rest_path = normalised if depth == 0 else "/" + "/".join(normalised.split("/")[depth + 1:])
    backend = match.target.backend
    upstream = (backend.base_path + rest_path).encode("ascii")
    pipeline = match.target.pipeline
    admit = getattr(pipeline, "admit_head", None)
    head_gate = ((admit, pipeline.key_field)
                 if admit is not None and pipeline.key_field in server.key_fields else None)
    return (match, method_text, normalised, method + b" " + upstream,
            b" HTTP/1.1\r\nhost: " + backend.host_header + CRLF, server.pools.get(backend),
            head_gate)


def start_span(tracer: RequestTracer, method: str, target: RouteTarget, path: str,
               host: bytes | None, conn: ClientConnection,
               incoming: bytes | str | None) -> RequestSpan:
    route = target.prefix.rstrip("/") + (target.template or "")
    return tracer.start(method, route or "/", incoming, {
        "http.request.method": method, "url.path": path, "http.route": route or "/",
        "url.scheme": conn.scheme.decode(), "server.address": (host or b"").decode("latin-1"),
        "client.address": conn.client_ip.decode(), "kubegate.api": target.api,
        "kubegate.operation": target.operation or ""})


def policy_exchange(conn: ClientConnection, match: Match[RouteTarget], method: str, path: str,
                    query: bytes, headers: list[tuple[bytes, bytes]], host: bytes | None,
                    keep_alive: bool, head_only: bool, http10: bool = False,
                    rid: bytes | None = None, span: RequestSpan | None = None,
                    traced: bool = False) -> PolicyExchange:
    """The exchange for an operation with policies: they see a Context of the request.
    `rid` and `span` are the request id and span begin_exchange chose for it."""
    target = match.target
    server = conn.server
    extra: tuple[tuple[str, str], ...] = ()
    rid_text = None
    if rid is not None:  # the one the backend and the client see (generated if none came)
        rid_text = rid.decode("latin-1")
        extra = ((server.rid_header, rid_text),)
    if span is not None:
        extra += (("traceparent", span.traceparent.decode()),)
    infos = server.route_infos.get(id(target))
    if infos is None or infos[0] is not target:
        infos = (target,
                 ApiInfo(Id=target.api, Name=target.api, Path=target.prefix.lstrip("/"),
                         ServiceUrl=target.backend.url),
                 OperationInfo(Id=target.operation, Name=target.operation, Method=method,
                               UrlTemplate=target.template))
        if len(server.route_infos) > 100_000:
            server.route_infos.clear()
        server.route_infos[id(target)] = infos
    scheme = "https" if conn.scheme == b"https" else "http"
    name, port = host_and_port((host or b"").decode("latin-1"), scheme)
    request = Request(method, Url(scheme, name, port, path, query.decode("latin-1")),
                      Headers.received(headers, POLICY_HIDDEN, extra), conn.client_ip.decode(),
                      MessageBody(None),
                      dict(match.params) if match.params else {})
    ctx = PolicyContext.received(request, infos[1], infos[2], rid_text, time())
    if traced:
        ctx.Tracing = True
        ctx.trace = []
    ex = PolicyExchange(conn, target, ctx, keep_alive, head_only, server.max_body or INF, http10)
    ex.span = span
    ex.rid = rid
    ex.host = host
    return ex

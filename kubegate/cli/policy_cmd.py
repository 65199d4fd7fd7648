"""`kubegate policy ...`: check a policy document, run it offline against a simulated backend."""

from __future__ import annotations

import asyncio
import json
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import click

from kubegate.policies.check import StandaloneSections, check_file, load_document
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context import Response
from kubegate.policies.pipeline import compile_pipeline_collect
from kubegate.policies.state import PolicyContext


def _pairs(values: tuple[str, ...], sep: str, what: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        name, found, value = v.partition(sep)
        if not found or not name.strip():
            raise click.BadParameter(f"expected NAME{sep}VALUE, got {v!r}", param_hint=what)
        out.append((name.strip(), value.strip() if sep == ":" else value))
    return out


def _data(value: str | None) -> bytes | None:
    if value is None:
        return None
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}") from None
    return value.encode("utf-8")


def _env(file: Path, named: tuple[str, ...], strict: bool, fragments: Path | None) -> CompileEnv:
    return CompileEnv(named_values=dict(_pairs(named, "=", "--named-value")),
                      base_dir=fragments or file.parent, placeholder_named_values=not strict)


@click.group("policy")
def policy() -> None:
    """Check and test APIM policy documents (XML or YAML) offline."""


_named = click.option("--named-value", "named", multiple=True, metavar="NAME=VALUE",
                      help="A {{named value}} (repeatable).")
_strict = click.option("--strict-named-values", is_flag=True,
                       help="Unknown {{named values}} are errors (default: placeholders).")
_fragments = click.option("--base-dir", type=click.Path(path_type=Path, file_okay=False),
                          help="Directory holding fragments/<id>.xml (default: the file's).")


@policy.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@_named
@_strict
@_fragments
def check(file: Path, as_json: bool, named: tuple[str, ...], strict_named_values: bool,
          base_dir: Path | None) -> None:
    """Parse and compile FILE; list every unsupported element or expression."""
    result = check_file(file, _env(file, named, strict_named_values, base_dir))
    if as_json:
        out: dict[str, Any] = {"file": str(file), "kind": result.kind, "ok": result.ok,
                               "problems": [p.as_dict() for p in result.problems]}
        if result.pipeline is not None:
            out["pipeline"] = result.pipeline.describe()
        click.echo(json.dumps(out, indent=2))
    else:
        for p in result.problems:
            click.echo(str(p))
        if result.ok and result.pipeline is not None:
            n = sum(len(result.pipeline.describe()[s]) for s in
                    ("inbound", "backend", "outbound", "on-error"))
            click.echo(f"{file}: OK ({result.kind}, {n} top-level steps)")
        else:
            click.echo(f"{file}: {len(result.problems)} problem(s)", err=True)
    sys.exit(0 if result.ok else 1)


@policy.command("run")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--request", "request", default="GET /", show_default=True,
              help="'METHOD /path?query' of the simulated request.")
@click.option("-H", "--header", "headers", multiple=True, metavar="'Name: value'")
@click.option("--body", help="Request body: text, or @file.")
@click.option("--ip", default="127.0.0.1", show_default=True, help="Client IP address.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A matched operation template parameter (for rewrite-uri).")
@click.option("--backend-response", default="200:", show_default=True,
              help="STATUS:body-text or STATUS:@file returned by the simulated backend.")
@click.option("--backend-header", "backend_headers", multiple=True, metavar="'Name: value'")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@_named
@_strict
@_fragments
def run(file: Path, request: str, headers: tuple[str, ...], body: str | None, ip: str,
        params: tuple[str, ...], backend_response: str, backend_headers: tuple[str, ...],
        as_json: bool, named: tuple[str, ...], strict_named_values: bool,
        base_dir: Path | None) -> None:
    """Run FILE against a simulated request and backend; print the result and a trace."""
    method, _, target = request.strip().partition(" ")
    if not method or not target.startswith("/"):
        raise click.BadParameter("expected 'METHOD /path'", param_hint="--request")
    status_text, _, backend_body = backend_response.partition(":")
    if not status_text.strip().isdigit():
        raise click.BadParameter("expected STATUS:body", param_hint="--backend-response")
    env = _env(file, named, strict_named_values, base_dir)
    sim = Simulation(int(status_text), _data(backend_body) or b"",
                     _pairs(backend_headers, ":", "--backend-header"))
    env.services = {"http": sim.http}
    try:
        doc = load_document(file)
    except Exception as exc:  # ConfigError or OSError
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    pipeline, problems = compile_pipeline_collect(StandaloneSections.of(doc), env)
    if pipeline is None:
        for p in problems.problems:
            click.echo(str(p), err=True)
        sys.exit(1)
    url = urlsplit(target)
    ctx = cast(PolicyContext, PolicyContext.for_request(method.upper(), url.path, url.query,
                                    _pairs(headers, ":", "-H"), ip, "https", "gateway.local",
                                    None, None, _data(body),
                                    matched_parameters=dict(_pairs(params, "=", "--param"))))
    ctx.Tracing = True
    ctx.trace = []
    asyncio.run(pipeline.execute(ctx, sim.send))
    report = sim.report(ctx)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render(report))


class Simulation:
    """The simulated backend (and send-request target): records requests, answers one response."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.status, self.body, self.headers = status, body, headers
        self.requests: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    def _phrase(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    async def send(self, ctx: Any) -> None:
        req = ctx.Request
        self.requests.append({
            "method": req.Method, "backend": ctx.backend_url or "(the API's backend)",
            "path": req.Url.Path, "query": req.Url.QueryString,
            "headers": [list(h) for h in req.Headers.to_list()],
            "body": (req.Body.content or b"").decode("utf-8", errors="replace")})
        ctx.Response = Response(self.status, self._phrase(), list(self.headers), self.body)

    async def http(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes,
                   timeout: float) -> tuple[int, str, list[tuple[str, str]], bytes]:
        self.calls.append({"method": method, "url": url, "headers": [list(h) for h in headers]})
        return self.status, self._phrase(), list(self.headers), self.body

    def report(self, ctx: Any) -> dict[str, Any]:
        resp = ctx.Response
        err = ctx.LastError
        return {
            "response": {"status": resp.StatusCode, "reason": resp.StatusReason,
                         "headers": [list(h) for h in resp.Headers.to_list()],
                         "body": (resp.Body.content or b"").decode("utf-8", errors="replace")},
            "backend_requests": self.requests, "send_requests": self.calls,
            "last_error": None if err is None else {
                k: getattr(err, k) for k in ("Source", "Reason", "Message", "Section", "Path")},
            "variables": {k: str(v) for k, v in ctx.Variables.items()},
            "trace": list(ctx.trace or [])}


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for req in report["backend_requests"]:
        lines += ["== backend request",
                  f"{req['method']} {req['backend']} {req['path']}{req['query']}"]
        lines += [f"{n}: {v}" for n, v in req["headers"]]
        if req["body"]:
            lines += ["", req["body"]]
    if not report["backend_requests"]:
        lines.append("== backend not called")
    for call in report["send_requests"]:
        lines.append(f"== send-request {call['method']} {call['url']}")
    resp = report["response"]
    lines += ["== response", f"{resp['status']} {resp['reason']}"]
    lines += [f"{n}: {v}" for n, v in resp["headers"]]
    if resp["body"]:
        lines += ["", resp["body"]]
    if report["last_error"]:
        e = report["last_error"]
        lines.append(f"== last error: {e['Source']} {e['Reason']}: {e['Message']} ({e['Path']})")
    lines.append("== trace")
    lines += [f"  {t}" for t in report["trace"]]
    return "\n".join(lines)

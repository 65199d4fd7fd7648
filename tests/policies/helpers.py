"""Helpers for policy tests: compile XML sections and run them with a fake backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from kubegate.policies.check import StandaloneSections
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context import ApiInfo, Response
from kubegate.policies.errors import STOP
from kubegate.policies.pipeline import Paused, Pipeline, compile_pipeline
from kubegate.policies.state import PolicyContext
from kubegate.sources.apim.xml_loader import load_policy_xml


def pipeline(xml: str, env: CompileEnv | None = None) -> Pipeline:
    doc = load_policy_xml(xml, "test.xml")
    return compile_pipeline(StandaloneSections.of(doc), env)


def doc(inbound: str = "", backend: str | None = None, outbound: str = "",
        on_error: str = "") -> str:
    back = "" if backend is None else f"<backend>{backend}</backend>"
    return (f"<policies><inbound>{inbound}</inbound>{back}<outbound>{outbound}</outbound>"
            f"<on-error>{on_error}</on-error></policies>")


def make_ctx(method: str = "GET", path: str = "/api/orders/1", query: str = "",
             headers: list[tuple[str, str]] | None = None, body: bytes | None = None,
             ip: str = "10.0.0.1", matched: dict[str, str] | None = None,
             api_path: str | None = "api", tracing: bool = False) -> PolicyContext:
    api = ApiInfo(Id="orders", Name="orders", Path=api_path) if api_path is not None else None
    ctx = cast(PolicyContext, PolicyContext.for_request(method, path, query, headers or [], ip, "https",
                                    "gw.example.com", api, None, body,
                                    matched_parameters=matched, clock=lambda: 1_700_000_000.0))
    if tracing:
        ctx.Tracing = True
        ctx.trace = []
    return ctx


class FakeBackend:
    """Records what it received; answers with a fixed (or scripted) response."""

    def __init__(self, status: int = 200, body: bytes = b"backend",
                 headers: list[tuple[str, str]] | None = None,
                 script: list[Any] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or []
        self.script = list(script or [])
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, ctx: Any) -> None:
        req = ctx.Request
        self.calls.append({"method": req.Method, "path": req.Url.Path,
                           "query": req.Url.QueryString, "headers": req.Headers.to_list(),
                           "body": req.Body.content, "backend_url": ctx.backend_url})
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, BaseException):
                raise item
            status = item
        else:
            status = self.status
        ctx.Response = Response(status, "OK", list(self.headers), self.body)


async def run(xml: str, ctx: PolicyContext | None = None, backend: FakeBackend | None = None,
              env: CompileEnv | None = None) -> tuple[PolicyContext, FakeBackend]:
    ctx = ctx or make_ctx()
    backend = backend or FakeBackend()
    await execute(pipeline(xml, env), ctx, backend)
    return ctx, backend


PATH = {"lane": False}
"""Set by the `both_paths` fixture (conftest.py): run pipelines as the data plane does
for a request without a body, through their `lane` where they have one."""


async def execute(p: Any, ctx: Any, send: Any) -> None:
    """``p.execute(ctx, send)``, or, under `both_paths`' lane run, what the data plane
    does with ``p.lane``: the inbound section as a plain call, then the rest."""
    lane = getattr(p, "lane", None) if PATH["lane"] and not ctx.Tracing else None
    if lane is None:
        await p.execute(ctx, send)
        return
    outcome = lane(ctx, send)
    while isinstance(outcome, Paused):
        await asyncio.wait([outcome.future])
        outcome = outcome.resume(ctx)
    if outcome is STOP:
        return
    if isinstance(outcome, Coroutine):
        await outcome
        return
    await outcome.execute(ctx, send, inbound_done=True)


Send = Callable[[Any], Awaitable[None]]


def err(ctx: Any) -> Any:
    """``ctx.LastError`` (untyped record), asserting there is one."""
    assert ctx.LastError is not None
    return ctx.LastError

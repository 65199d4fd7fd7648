"""A compiled pipeline: inbound -> backend -> outbound, and on-error.

``Pipeline.execute(ctx, send)`` runs the sections in order. ``send(ctx)`` is the
data plane's callback: it forwards ``ctx.Request`` to ``ctx.backend_url`` (or
the API's backend when that is None) and fills ``ctx.Response``; it loads the
response body only when ``needs_response_body`` (otherwise
``ctx.Response.Body.content`` stays ``None`` and the body streams later). A
step returning ``STOP`` (return-response, mock-response, CORS preflight) ends
the pipeline; the response it set is final and outbound does not run.

Errors (``PolicyFailure``, ``ExpressionError``, ``BackendError`` from ``send``,
any other exception of a step) fill ``context.LastError`` and run ``on-error``
on a response pre-set to the error's response. An error inside ``on-error``
gives 500 with ``{"statusCode": 500, "message": "Internal server error"}``.

A section of synchronous steps runs as one plain call, without a coroutine.

``lane`` (None unless the pipeline allows it) runs the inbound section as plain
calls, for the data plane's synchronous fast path: the pipeline must stream (its
backend is plain forward-request, outbound and on-error are empty, ``streams``)
and every inbound step must be synchronous or have a ``soon`` form. ``lane(ctx,
send)`` returns the pipeline when the request goes on to the backend (then
forwarded by the data plane, or by ``execute(ctx, send, inbound_done=True)``),
``STOP`` when ``ctx.Response`` is final (a policy answered, or an inbound error's
response), or ``Paused`` when a step waits on a future: once it is done,
``paused.resume(ctx)`` goes on from there and returns one of the same three.

``head_check`` (None unless the pipeline allows it) decides the whole pipeline
from the subscription and the client address, before any Context is built: the
pipeline must stream, and its inbound is empty (``admit_all``) or one step with
a ``head_check`` (a rate limit in its usual form). True: the request goes to the
backend as it came, the step's effect done; False: only the full run can tell
(nothing was done); a ``HeadWait``: the verdict comes with its future (the
refusal response it may give is the whole pipeline's: on-error is empty).
``SubscriptionGate.admit_head`` asks it.

Invariant: a Pipeline is immutable and shared by every request of its operation.
"""

from __future__ import annotations

import json
from typing import Any

from kubegate.model.errors import ConfigError
from kubegate.model.policy import SECTIONS, PolicyElement
from kubegate.sources.apim.expressions import ExpressionError

from . import builtin  # noqa: F401  (registers the built-in policies)
from .compiler import CompileEnv, Compiler
from .context import LastError, Response
from .errors import STOP, BackendError, PolicyFailure
from .runtime import (
    Block,
    HeadCheck,
    Located,
    Send,
    Step,
    Wait,
    run_block,
    run_block_sync_or_async,
    trace,
)

INTERNAL_ERROR = json.dumps({"statusCode": 500, "message": "Internal server error"}).encode()
JSON = [("Content-Type", "application/json")]


class Pipeline:
    __slots__ = ("inbound", "backend", "outbound", "on_error", "needs_request_body",
                 "needs_response_body", "_runners", "streams", "lane", "head_check")

    def __init__(self, inbound: Block, backend: Block, outbound: Block, on_error: Block,
                 needs_request_body: bool, needs_response_body: bool) -> None:
        self.inbound = inbound
        self.backend = backend
        self.outbound = outbound
        self.on_error = on_error
        self.needs_request_body = needs_request_body
        self.needs_response_body = needs_response_body
        # (is_async, run) of inbound, backend and outbound
        self._runners = tuple(run_block_sync_or_async(b) for b in (inbound, backend, outbound))
        # nothing after forwarding looks at the response: the data plane may stream it
        self.streams = (not outbound and not on_error and not needs_response_body
                        and all(step.name == "forward-request" and step.detail.get("timeout") is None
                                and not step.detail.get("fail_on_error") for step in backend))
        plain = all(not step.is_async or step.soon is not None for step in inbound)
        self.lane = self._inbound_now if self.streams and plain else None
        self.head_check: HeadCheck | None = None
        if self.streams and not inbound:
            self.head_check = admit_all
        elif self.streams and len(inbound) == 1:
            self.head_check = inbound[0].head_check

    async def execute(self, ctx: Any, send: Send, inbound_done: bool = False) -> None:
        """Run the pipeline; with `inbound_done` from the backend section on, after a
        ``lane`` call passed (``ctx.send`` then stays as the inbound policies left it)."""
        section = "inbound"
        (in_async, inbound), (back_async, backend), (out_async, outbound) = self._runners
        try:
            if inbound_done:
                result = None
            else:
                ctx.send = send
                result = inbound(ctx)
                if in_async:
                    result = await result
            if result is None:
                section = "backend"
                result = backend(ctx)
                if back_async:
                    result = await result
                if result is None and self.outbound:
                    section = "outbound"
                    result = outbound(ctx)
                    if out_async:
                        await result
        except Located as located:
            await self._on_error(ctx, located.error, located.step, section)
        if ctx.response_headers:
            add_response_headers(ctx)

    def _inbound_now(self, ctx: Any, send: Send) -> object:
        """The ``lane``: inbound as plain calls."""
        ctx.send = send
        return self.go_on(ctx, 0, None)

    def go_on(self, ctx: Any, index: int, wait: Wait | None) -> object:
        """Inbound from step `index` on, as plain calls; with `wait`, that step waited
        and is finished first. Returns as ``lane`` does."""
        steps = self.inbound
        result: object = None
        try:
            if wait is not None:
                try:
                    result = wait.then(ctx, wait.future, wait.arg)
                except Located:
                    raise
                except Exception as exc:
                    raise Located(exc, steps[index]) from exc
                index += 1
            while result is None and index < len(steps):
                step = steps[index]
                if ctx.Tracing:
                    trace(ctx, step.label)
                try:
                    result = step.soon(ctx) if step.is_async else step.fn(ctx)  # type: ignore[misc]
                except Located:
                    raise
                except Exception as exc:
                    raise Located(exc, step) from exc
                if result.__class__ is Wait:
                    return Paused(self, index, result)  # type: ignore[arg-type]
                index += 1
        except Located as located:
            set_error(ctx, located.error, located.step, "inbound")  # on-error is empty
            result = STOP
        if result is None:
            return self
        if ctx.response_headers:
            add_response_headers(ctx)
        return STOP

    async def _on_error(self, ctx: Any, error: BaseException, step: Step, section: str) -> None:
        set_error(ctx, error, step, section)
        try:
            await run_block(self.on_error, ctx)
        except Located as located:
            trace(ctx, f"error in on-error {located.step.label}: {located.error}")
            ctx.Response = Response(500, "Internal Server Error", list(JSON), INTERNAL_ERROR)

    def describe(self) -> dict[str, Any]:
        """A plain description (golden tests, ``policy check --json``)."""
        def block(steps: Block) -> list[dict[str, Any]]:
            return [{"path": s.path, "line": s.line, "async": s.is_async,
                     **({"detail": s.detail} if s.detail else {})} for s in steps]
        return {"needs_request_body": self.needs_request_body,
                "needs_response_body": self.needs_response_body,
                "inbound": block(self.inbound), "backend": block(self.backend),
                "outbound": block(self.outbound), "on-error": block(self.on_error)}


def admit_all(subscription: str | None, client_ip: bytes) -> bool:
    """The ``head_check`` of a pipeline with no inbound step."""
    return True


class Paused:
    """A ``lane`` stopped at a step that waits on ``future``; ``resume(ctx)``, once it
    is done, finishes that step and goes on as plain calls."""

    __slots__ = ("pipeline", "index", "wait")

    def __init__(self, pipeline: Pipeline, index: int, wait: Wait) -> None:
        self.pipeline = pipeline
        self.index = index
        self.wait = wait

    @property
    def future(self) -> Any:
        return self.wait.future

    def resume(self, ctx: Any) -> object:
        return self.pipeline.go_on(ctx, self.index, self.wait)


def add_response_headers(ctx: Any) -> None:
    """The headers policies asked for on the final response (cors)."""
    for name, value in ctx.response_headers:
        if name == "Vary":
            ctx.Response.Headers.append(name, value)
        else:
            ctx.Response.Headers.set(name, value)


def set_error(ctx: Any, error: BaseException, step: Step, section: str) -> None:
    """``context.LastError`` and the error's response, as on-error starts with them."""
    source, reason, message, status, headers, body = describe_error(error, step)
    ctx.LastError = LastError(Source=source, Reason=reason, Message=message,
                              Scope=step.scope, Section=section, Path=step.path,
                              PolicyId=step.policy_id)
    ctx.Response = Response(status, _reason_phrase(status), headers, body)
    trace(ctx, f"error in {step.label}: {reason}: {message}")


def describe_error(error: BaseException, step: Step
                   ) -> tuple[str, str, str, int, list[tuple[str, str]], bytes]:
    """Source, Reason, Message, status, headers and body for an error of ``step``."""
    if isinstance(error, PolicyFailure):
        return (error.source or step.name, error.reason, error.message, error.status,
                list(error.headers) or list(JSON), error.response_body())
    if isinstance(error, BackendError):
        body = json.dumps({"statusCode": error.status, "message": error.message}).encode()
        return step.name, error.reason, error.message, error.status, list(JSON), body
    if isinstance(error, ExpressionError):
        return step.name, error.reason, error.message, 500, list(JSON), INTERNAL_ERROR
    return step.name, "PolicyExecutionFailure", str(error) or type(error).__name__, 500, \
        list(JSON), INTERNAL_ERROR


_PHRASES = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def _reason_phrase(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _PHRASES.get(status, "")


def compile_pipeline(merged: Any, env: CompileEnv | None = None) -> Pipeline:
    """Compile a ``MergedPolicy`` (sections of elements, ``<base/>`` resolved).

    Raises ``ConfigError`` listing every problem found."""
    pipeline, problems = compile_pipeline_collect(merged, env)
    if problems.problems:
        raise problems
    assert pipeline is not None
    return pipeline


def compile_pipeline_collect(merged: Any, env: CompileEnv | None = None
                             ) -> tuple[Pipeline | None, ConfigError]:
    """Like ``compile_pipeline`` but returns the problems instead of raising."""
    compiler = Compiler(env or CompileEnv())
    blocks: dict[str, Block] = {}
    for name in SECTIONS:
        compiler.section = name
        elements: tuple[PolicyElement, ...] = merged.section(name)
        for el in elements:
            if el.name == "base":
                compiler.problem(el, "<base/> must be resolved by merging scopes first")
        blocks[name] = compiler.compile_block([e for e in elements if e.name != "base"], name)
        if name == "backend" and not elements:
            blocks[name] = (default_forward(),)
    if compiler.problems:
        return None, ConfigError(compiler.problems)
    return Pipeline(blocks["inbound"], blocks["backend"], blocks["outbound"], blocks["on-error"],
                    compiler.needs_request_body, compiler.needs_response_body), ConfigError([])


def default_forward() -> Step:
    from .builtin.forward_request import forward
    return Step(forward(None), is_async=True, name="forward-request",
                path="backend/forward-request (default)")

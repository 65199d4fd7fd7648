"""Running compiled steps: the per-request hot loop of the policy engine.

A compiled policy is a ``Step``: a plain callable taking the ``Context``,
returning ``None`` to go on or ``STOP`` to end the pipeline. Steps that must
wait (``forward-request``, ``retry``, ``limit-concurrency``...) are marked
``is_async`` and return an awaitable; the loop awaits only those, so a section
of synchronous steps costs one call per policy. An async step may also have a
``soon`` form for the data plane's synchronous lane (see Pipeline): a plain call
returning the step's result, or a ``Wait`` (a future, and the plain call that
finishes the step once it is done) when it must wait. A step may also have a
``head_check``: its whole effect decided from the subscription and the client
address alone, before any Context exists (see ``Pipeline.head_check``), at once
or, through a ``HeadWait``, when its counter store answers. An
exception escaping a step is
wrapped once, by the innermost loop, in ``Located`` naming the step, which is
how ``context.LastError`` learns its Source, Scope and Path.

Invariants: steps are immutable after compilation and hold no per-request
state; every per-request value lives on the Context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .errors import STOP

StepFn = Callable[[Any], Any]
HeadCheck = Callable[[str | None, bytes], "bool | HeadWait"]


class HeadWait:
    """A head check's verdict still to come (a counter store answering later): once
    ``future`` is done, ``settle(future, arg)`` returns None when the request is
    admitted (counted), else the response that refuses it, as the step would have
    (its log line written). ``subscription`` is set by the key check that asked."""

    __slots__ = ("future", "settle", "arg", "subscription")

    def __init__(self, future: Any, settle: Callable[[Any, Any], Any], arg: Any = None) -> None:
        self.future = future
        self.settle = settle
        self.arg = arg
        self.subscription: str | None = None


class Step:
    """One compiled policy element."""

    __slots__ = ("fn", "is_async", "name", "path", "scope", "line", "file", "policy_id",
                 "detail", "label", "soon", "head_check")

    def __init__(self, fn: StepFn, *, is_async: bool = False, name: str, path: str,
                 scope: str | None = None, line: int | None = None, file: str | None = None,
                 policy_id: str | None = None, detail: dict[str, Any] | None = None,
                 soon: StepFn | None = None) -> None:
        self.fn = fn
        self.is_async = is_async
        self.soon = soon  # an async step's plain-call form (result or Wait), if it has one
        # (subscription id or None, client address) -> True when the step admits the
        # request and has done all it would do (a counted hit), False when only the step
        # itself can tell (it then did nothing), or a HeadWait; set by the policies
        # that have one
        self.head_check: HeadCheck | None = None
        self.name = name
        self.path = path
        self.scope = scope
        self.line = line
        self.file = file
        self.policy_id = policy_id
        self.detail = detail or {}
        self.label = f"{path} (line {line})" if line is not None else path

    def __repr__(self) -> str:
        return f"Step({self.path} line {self.line})"


Block = tuple[Step, ...]


class Wait:
    """What a step's ``soon`` returns when it must wait: once ``future`` is done,
    ``then(ctx, future, arg)`` (a plain call) finishes the step and returns its result."""

    __slots__ = ("future", "then", "arg")

    def __init__(self, future: Any, then: Callable[[Any, Any, Any], Any], arg: Any = None) -> None:
        self.future = future
        self.then = then
        self.arg = arg


class Located(Exception):
    """An exception raised by ``step``; ``error`` is the original."""

    def __init__(self, error: BaseException, step: Step) -> None:
        super().__init__(str(error))
        self.error = error
        self.step = step


def trace(ctx: Any, line: str) -> None:
    """Record a decision line when the request is traced."""
    if ctx.Tracing and ctx.trace is not None:
        ctx.trace.append(line)


async def run_block(steps: Block, ctx: Any) -> object | None:
    """Run ``steps`` in order; the first non-None result (``STOP``) ends the block."""
    tracing = ctx.Tracing
    for step in steps:
        try:
            if tracing:
                trace(ctx, step.label)
            result = step.fn(ctx)
            if step.is_async:
                result = await result
        except Located:
            raise
        except Exception as exc:
            raise Located(exc, step) from exc
        if result is not None:
            return result
    return None


def run_block_sync_or_async(steps: Block) -> tuple[bool, Callable[[Any], Any]]:
    """A callable running ``steps``: synchronous when every step is, else async.

    Used by container policies (choose, include-fragment) so that a container of
    synchronous policies stays synchronous."""
    if any(s.is_async for s in steps):
        return True, lambda ctx: run_block(steps, ctx)

    def run_sync(ctx: Any) -> object | None:
        tracing = ctx.Tracing
        for step in steps:
            try:
                if tracing:
                    trace(ctx, step.label)
                result = step.fn(ctx)
            except Located:
                raise
            except Exception as exc:
                raise Located(exc, step) from exc
            if result is not None:
                return result
        return None
    return False, run_sync


Send = Callable[[Any], Awaitable[None]]
__all__ = ["STOP", "Block", "Located", "Send", "Step", "Wait", "run_block",
           "run_block_sync_or_async", "trace"]

"""Start a coroutine eagerly: run it in the caller until it first has to wait.

Most policy pipelines never wait (key checks, in-memory limits, header changes,
then a hand-off to the streaming forward), yet a Task costs a loop turn and a
few microseconds per request. `start_eagerly` runs the coroutine synchronously
in the current callback; only when it awaits a future that is not done does a
Task take over, resuming it where it stopped. (Python 3.12's eager task factory
does the same inside asyncio; this works on 3.11 and only where we ask for it.)

Invariants: the coroutine is driven by exactly one party at a time (the caller
until its first wait, then the Task); cancelling the Task cancels the future the
coroutine waits on and throws CancelledError into it, as for a plain Task. The
eager part runs without a current Task, so it must not use `asyncio.timeout()`
(wait_for is fine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import CoroutineType
from typing import Any

_COROUTINE_TYPES: dict[type, bool] = {CoroutineType: True}


def is_coroutine(value: object) -> bool:
    """Whether `value` is a coroutine still to run: Python's own, or one of a module
    compiled by mypyc (kubegate/native.py), which is another type (answer cached per type)."""
    kind = type(value)
    known = _COROUTINE_TYPES.get(kind)
    if known is None:
        known = _COROUTINE_TYPES[kind] = isinstance(value, Coroutine)
    return known


def start_eagerly(coro: Coroutine[Any, Any, Any],
                  loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
    """Run `coro` until it completes (returns None) or first waits (returns the Task
    that finishes it). Exceptions other than those the coroutine handles propagate."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    return loop.create_task(_resume(coro, waiting))


async def _resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """Drive `coro` on from the future it yielded, as a Task would."""
    while True:
        try:
            if waiting is None:  # a bare yield (asyncio.sleep(0)): one loop turn
                await asyncio.sleep(0)
            else:
                # the coroutine's yield marked the future as awaited by a Task (as
                # Task.__step would, clear that before this Task awaits it itself)
                waiting._asyncio_future_blocking = False
                await waiting
        except BaseException as exc:  # the future's error, or this Task's cancellation
            try:
                waiting = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            waiting = coro.send(None)
        except StopIteration as stop:
            return stop.value

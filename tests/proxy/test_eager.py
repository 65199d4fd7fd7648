"""start_eagerly: the synchronous part runs in the caller, a Task finishes the rest."""

from __future__ import annotations

import asyncio

import pytest

from kubegate.proxy.eager import start_eagerly


async def test_a_coroutine_that_never_waits_finishes_in_the_caller() -> None:
    seen: list[str] = []

    async def inner() -> None:
        seen.append("inner")

    async def outer() -> None:
        await inner()
        seen.append("outer")

    assert start_eagerly(outer(), asyncio.get_running_loop()) is None
    assert seen == ["inner", "outer"]  # before any loop turn


async def test_the_part_after_the_first_wait_runs_in_a_task() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    seen: list[object] = []

    async def body() -> int:
        seen.append("before")
        got = await fut
        seen.append(got)
        await asyncio.sleep(0)  # a bare yield as well
        got2 = await asyncio.sleep(0.001, result=7)
        seen.append(got2)
        return got + got2

    task = start_eagerly(body(), loop)
    assert task is not None and seen == ["before"]
    await asyncio.sleep(0)
    assert not task.done()
    fut.set_result(5)
    assert await task == 12
    assert seen == ["before", 5, 7]


async def test_the_awaited_futures_error_is_raised_inside_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()

    async def body() -> str:
        try:
            await fut
        except KeyError as exc:
            return f"caught {exc}"
        return "not raised"

    task = start_eagerly(body(), loop)
    assert task is not None
    fut.set_exception(KeyError("x"))
    assert await task == "caught 'x'"


async def test_cancelling_the_task_cancels_the_wait_and_reaches_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    cleaned: list[bool] = []

    async def body() -> None:
        try:
            await fut
        finally:
            cleaned.append(True)

    task = start_eagerly(body(), loop)
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fut.cancelled() and cleaned == [True]


async def test_an_error_in_the_eager_part_reaches_the_caller() -> None:
    async def body() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        start_eagerly(body(), asyncio.get_running_loop())

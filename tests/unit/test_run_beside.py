"""How the async stand-ins run a main task with helpers beside it, and wait unless stopped."""

from __future__ import annotations

import asyncio

import pytest

from devstack.pg_async import run_beside, unless_stopped


async def forever(cancelled: list[str], name: str) -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.append(name)
        raise


def test_main_s_result_is_returned_and_the_helpers_are_cancelled() -> None:
    cancelled: list[str] = []

    async def main() -> int:
        await asyncio.sleep(0)
        return 7

    async def scenario() -> int:
        return await run_beside(main(), forever(cancelled, "a"), forever(cancelled, "b"))

    assert asyncio.run(scenario()) == 7
    assert sorted(cancelled) == ["a", "b"]


def test_a_helper_s_error_cancels_main_and_is_raised() -> None:
    cancelled: list[str] = []

    async def broken() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("the listener went away")

    async def scenario() -> None:
        await run_beside(forever(cancelled, "main"), broken(), forever(cancelled, "other"))

    with pytest.raises(ConnectionError, match="the listener went away"):
        asyncio.run(scenario())
    assert sorted(cancelled) == ["main", "other"]


def test_a_helper_that_returns_leaves_main_running() -> None:
    async def done_early() -> None:
        return None

    async def main(gate: asyncio.Event) -> str:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        gate.set()
        return "finished"

    async def scenario() -> tuple[str, bool]:
        gate = asyncio.Event()
        result = await run_beside(main(gate), done_early())
        return result, gate.is_set()

    assert asyncio.run(scenario()) == ("finished", True)


def test_unless_stopped_gives_the_result_or_none_once_stopped() -> None:
    async def scenario() -> tuple[int | None, int | None, bool]:
        stop = asyncio.Event()
        queue: asyncio.Queue[int] = asyncio.Queue()
        queue.put_nowait(5)
        got = await unless_stopped(queue.get(), stop)
        stop.set()
        nothing = await unless_stopped(queue.get(), stop)
        queue.put_nowait(6)  # a cancelled get took nothing: the item is still there
        return got, nothing, queue.get_nowait() == 6

    assert asyncio.run(scenario()) == (5, None, True)

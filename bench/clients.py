"""Timed submission by ``clients`` concurrent clients: threads for blocking clients, tasks for
asyncio ones. The clock runs from when every client has its connection open until the last one
has sent its share, so opening and closing connections is not counted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager

SyncSend = Callable[[int], None]
AsyncSend = Callable[[int], Awaitable[None]]
SyncClient = Callable[[], AbstractContextManager[SyncSend]]
AsyncClient = Callable[[], AbstractAsyncContextManager[AsyncSend]]


def shares(jobs: int, clients: int) -> list[int]:
    return [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]


def time_threads(open_client: SyncClient, clients: int, jobs: int) -> float:
    """Seconds for ``clients`` threads to send ``jobs`` between them."""
    errors: list[BaseException] = []
    opened = threading.Barrier(clients + 1)
    finished = threading.Barrier(clients + 1)

    def run(share: int) -> None:
        try:
            with open_client() as send:
                opened.wait()
                for n in range(share):
                    send(n)
                finished.wait()
        except BaseException as exc:
            errors.append(exc)
            opened.abort()
            finished.abort()

    threads = [threading.Thread(target=run, args=(s,)) for s in shares(jobs, clients)]
    for thread in threads:
        thread.start()
    elapsed = 0.0
    try:
        opened.wait()
        began = time.perf_counter()
        finished.wait()
        elapsed = time.perf_counter() - began
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return elapsed


async def _time_tasks(open_client: AsyncClient, clients: int, jobs: int) -> float:
    counts = {"open": 0, "finished": 0}
    all_open, go, all_finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def run(share: int) -> None:
        async with open_client() as send:
            counts["open"] += 1
            if counts["open"] == clients:
                all_open.set()
            await go.wait()
            for n in range(share):
                await send(n)
            counts["finished"] += 1
            if counts["finished"] == clients:
                all_finished.set()

    async def first_of(event: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
        waiting = asyncio.create_task(event.wait())
        await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        for task in tasks:
            if task.done() and task.exception() is not None:
                await task  # raises it

    tasks = [asyncio.create_task(run(s)) for s in shares(jobs, clients)]
    await first_of(all_open, tasks)
    began = time.perf_counter()
    go.set()
    await first_of(all_finished, tasks)
    elapsed = time.perf_counter() - began
    await asyncio.gather(*tasks)
    return elapsed


def time_tasks(open_client: AsyncClient, clients: int, jobs: int) -> float:
    """Seconds for ``clients`` asyncio tasks to send ``jobs`` between them."""
    return asyncio.run(_time_tasks(open_client, clients, jobs))

"""Task start marks for dispatch latency: each system's bench task notifies ``bench_marks`` with
``<key> <unix time at task start>``; the benchmark listens and matches keys."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

import psycopg

CHANNEL = "bench_marks"
NOTIFY = "select pg_notify('bench_marks', %s)"


def payload(key: str, started: float) -> str:
    return f"{key} {started!r}"


class MarkListener:
    """LISTENs on one database; ``wait(key)`` is the task start time that key reported."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._marks: dict[str, float] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MarkListener:
        self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await self._conn.execute(f"listen {CHANNEL}")
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        assert self._conn is not None
        async for notify in self._conn.notifies():
            key, _, started = notify.payload.partition(" ")
            self._marks[key] = float(started)
            self._arrived.setdefault(key, asyncio.Event()).set()

    async def wait(self, key: str, timeout_s: float) -> float:
        event = self._arrived.setdefault(key, asyncio.Event())
        await asyncio.wait_for(event.wait(), timeout_s)
        del self._arrived[key]
        return self._marks.pop(key)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, psycopg.Error):
                await self._task
        if self._conn is not None:
            await self._conn.close()

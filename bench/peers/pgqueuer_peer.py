"""pgqueuer (asyncpg driver): ``Queries.enqueue``, ``QueueManager`` in drain mode with a no-op
entrypoint, and a LISTEN/NOTIFY-woken worker for dispatch latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import IO

import asyncpg
import psycopg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
from pgqueuer.types import QueueExecutionMode

from bench import procs
from bench.clients import AsyncSend, time_tasks
from bench.marks import MarkListener, payload
from bench.procs import WorkerGroup

BATCH = 10
# In drain mode the manager waits up to this long for more work once in-flight jobs are done.
DRAIN_POLL = timedelta(milliseconds=50)


def install(database_url: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await Queries(AsyncpgDriver(conn)).install()
        finally:
            await conn.close()

    asyncio.run(run())


@asynccontextmanager
async def client(database_url: str) -> AsyncIterator[AsyncSend]:
    conn = await asyncpg.connect(database_url)
    queries = Queries(AsyncpgDriver(conn))

    async def send(n: int) -> None:
        await queries.enqueue("noop", b'{"task_name": "bench"}')

    try:
        yield send
    finally:
        await conn.close()


def time_submit(database_url: str, clients: int, jobs: int) -> float:
    return time_tasks(lambda: client(database_url), clients, jobs)


def reset(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("truncate pgqueuer, pgqueuer_log, pgqueuer_statistics")


def fill(database_url: str, jobs: int) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            queries = Queries(AsyncpgDriver(conn))
            for start in range(0, jobs, 1000):
                count = min(1000, jobs - start)
                await queries.enqueue(
                    ["noop"] * count, [b'{"task_name": "bench"}'] * count, [0] * count
                )
        finally:
            await conn.close()

    asyncio.run(run())


def remaining(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select count(*) from pgqueuer").fetchone()
    assert row is not None
    return int(row[0])


def drain_worker(database_url: str) -> None:
    handled = 0

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        qm = QueueManager(Queries(AsyncpgDriver(conn)))

        @qm.entrypoint("noop")
        async def noop(job: Job) -> None:
            nonlocal handled
            handled += 1

        procs.ready()
        await asyncio.to_thread(procs.wait_for_go)
        await qm.run(dequeue_timeout=DRAIN_POLL, batch_size=BATCH, mode=QueueExecutionMode.drain)

    asyncio.run(run())
    procs.done(handled)


def dispatch_worker(database_url: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        marks = await asyncpg.connect(database_url)
        qm = QueueManager(Queries(AsyncpgDriver(conn)))

        @qm.entrypoint("bench_mark")
        async def bench_mark(job: Job) -> None:
            started = time.time()
            key = (job.payload or b"").decode()
            await marks.execute("select pg_notify('bench_marks', $1)", payload(key, started))

        procs.ready()
        await qm.run(batch_size=BATCH)

    asyncio.run(run())


class Dispatch:
    name = "pgqueuer"

    def __init__(self, database_url: str, log: IO[str]) -> None:
        self._url = database_url
        self._group = WorkerGroup(["pgqueuer", "dispatch", database_url], 1, log, {})
        self.marks = MarkListener(database_url)
        self._conn: asyncpg.Connection | None = None
        self._queries: Queries | None = None

    def launch(self) -> None:
        """Spawn the worker (without waiting for it)."""
        reset(self._url)
        self._group.launch()

    async def __aenter__(self) -> Dispatch:
        await asyncio.to_thread(self._group.expect, "ready", 60)
        await self.marks.__aenter__()
        self._conn = await asyncpg.connect(self._url)
        self._queries = Queries(AsyncpgDriver(self._conn))
        return self

    async def enqueue(self, seq: int) -> tuple[str, float]:
        assert self._queries is not None
        key = f"pgqueuer-{seq}"
        committed = time.time()  # the enqueue is its own transaction: its commit is being sent
        await self._queries.enqueue("bench_mark", key.encode())
        return key, committed

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()
        await self.marks.__aexit__(None, None, None)
        self._group.stop()

"""procrastinate (psycopg connector): ``defer_async``, ``run_worker_async(wait=False)`` with a
no-op async task and 10 concurrent slots a worker, and a LISTEN/NOTIFY-woken worker for
dispatch latency."""

from __future__ import annotations

import asyncio
import time
from typing import IO

import procrastinate
import psycopg

from bench import procs
from bench.clients import AsyncSend, shares
from bench.marks import NOTIFY, MarkListener, payload
from bench.procs import WorkerGroup

QUEUE = "bench"
CONCURRENCY = 10


def make_app(database_url: str, pool_size: int = 2) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=database_url, min_size=pool_size, max_size=pool_size
    )
    return procrastinate.App(connector=connector)


def install(database_url: str) -> None:
    async def run() -> None:
        async with make_app(database_url).open_async() as app:
            await app.schema_manager.apply_schema_async()

    asyncio.run(run())


async def _time_submit(database_url: str, clients: int, jobs: int) -> float:
    app = make_app(database_url, pool_size=clients)

    @app.task(name="noop", queue=QUEUE)
    async def noop() -> None:
        return None

    async def send(n: int) -> None:
        await noop.defer_async()

    async with app.open_async():
        # Open every pooled connection before the clock starts.
        await asyncio.gather(*(send(0) for _ in range(clients)))
        began = time.perf_counter()
        await asyncio.gather(*(_send_many(send, share) for share in shares(jobs, clients)))
        return time.perf_counter() - began


async def _send_many(send: AsyncSend, count: int) -> None:
    for n in range(count):
        await send(n)


def time_submit(database_url: str, clients: int, jobs: int) -> float:
    return asyncio.run(_time_submit(database_url, clients, jobs))


def reset(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("truncate procrastinate_jobs cascade")


def fill(database_url: str, jobs: int) -> None:
    async def run() -> None:
        app = make_app(database_url)

        @app.task(name="noop", queue=QUEUE)
        async def noop() -> None:
            return None

        async with app.open_async():
            for start in range(0, jobs, 1000):
                await noop.batch_defer_async(*({} for _ in range(min(1000, jobs - start))))

    asyncio.run(run())


def remaining(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from procrastinate_jobs where status <> 'succeeded'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def drain_worker(database_url: str) -> None:
    handled = 0

    async def run() -> None:
        app = make_app(database_url, pool_size=CONCURRENCY + 2)

        @app.task(name="noop", queue=QUEUE)
        async def noop() -> None:
            nonlocal handled
            handled += 1

        async with app.open_async():
            procs.ready()
            await asyncio.to_thread(procs.wait_for_go)
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=CONCURRENCY,
                wait=False,
                listen_notify=False,
                install_signal_handlers=False,
            )

    asyncio.run(run())
    procs.done(handled)


def dispatch_worker(database_url: str) -> None:
    async def run() -> None:
        app = make_app(database_url)
        marks = await psycopg.AsyncConnection.connect(database_url, autocommit=True)

        @app.task(name="bench_mark", queue=QUEUE)
        async def bench_mark(key: str) -> None:
            started = time.time()
            await marks.execute(NOTIFY, (payload(key, started),))

        async with app.open_async():
            procs.ready()
            await app.run_worker_async(queues=[QUEUE], concurrency=1, listen_notify=True)

    asyncio.run(run())


class Dispatch:
    name = "procrastinate"

    def __init__(self, database_url: str, log: IO[str]) -> None:
        self._url = database_url
        self._group = WorkerGroup(["procrastinate", "dispatch", database_url], 1, log, {})
        self.marks = MarkListener(database_url)
        self._app = make_app(database_url)
        self._task = self._app.task(name="bench_mark", queue=QUEUE)(_bench_mark)
        self._open = False

    def launch(self) -> None:
        """Spawn the worker (without waiting for it)."""
        reset(self._url)
        self._group.launch()

    async def __aenter__(self) -> Dispatch:
        await asyncio.to_thread(self._group.expect, "ready", 60)
        await self.marks.__aenter__()
        await self._app.open_async()
        self._open = True
        return self

    async def enqueue(self, seq: int) -> tuple[str, float]:
        key = f"procrastinate-{seq}"
        committed = time.time()  # the defer is its own transaction: its commit is being sent
        await self._task.defer_async(key=key)
        return key, committed

    async def __aexit__(self, *exc: object) -> None:
        if self._open:
            await self._app.close_async()
        await self.marks.__aexit__(None, None, None)
        self._group.stop()


async def _bench_mark(key: str) -> None:
    """Only deferred from here; the worker process registers the one that runs."""

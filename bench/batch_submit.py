"""Metric: jobs accepted per second when submitted in batches by one client: ours with
``submit_jobs`` (1,000 jobs a call, one transaction), against ``pgmq.send_batch`` alone and
pgqueuer's ``enqueue`` with lists. Rounds interleave the systems, as in the submit metric."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import asyncpg
import psycopg
from pgqueuer import AsyncpgDriver, Queries
from psycopg.types.json import Jsonb

from bench import ours
from bench.clients import shares
from bench.context import Context
from bench.peers import pgmq_raw, pgqueuer_peer
from bench.pg import RAW_QUEUE
from bench.rows import OURS, PGMQ, PGQUEUER, Row
from devstack.config import generate_webhook_secret
from functions.db import queries

BATCH = 1000

Timer = Callable[[int], float]  # (batches) -> seconds


def time_ours(database_url: str, batches: int) -> float:
    items = Jsonb([{"task_name": ours.TASK_NAME, **ours.NOOP}] * BATCH)
    with psycopg.connect(database_url, autocommit=True) as conn:
        began = time.perf_counter()
        for _ in range(batches):
            conn.execute(queries.SUBMIT_JOBS, {"items": items, "idempotency_key": None}).fetchone()
        return time.perf_counter() - began


def time_pgmq(database_url: str, batches: int) -> float:
    with psycopg.connect(database_url, autocommit=True) as conn:
        began = time.perf_counter()
        for _ in range(batches):
            # The messages submit_jobs sends, made by the client as a caller of pgmq would.
            messages = [Jsonb({"job_id": str(uuid.uuid4()), "task_name": "bench"})] * BATCH
            conn.execute(
                "select pgmq.send_batch(%s, %s::jsonb[])", (RAW_QUEUE, messages)
            ).fetchall()
        return time.perf_counter() - began


def time_pgqueuer(database_url: str, batches: int) -> float:
    async def run() -> float:
        conn = await asyncpg.connect(database_url)
        try:
            pgq = Queries(AsyncpgDriver(conn))
            names, priorities = ["noop"] * BATCH, [0] * BATCH
            payloads: list[bytes | None] = [b'{"task_name": "bench"}'] * BATCH
            began = time.perf_counter()
            for _ in range(batches):
                await pgq.enqueue(names, payloads, priorities)
            return time.perf_counter() - began
        finally:
            await conn.close()

    return asyncio.run(run())


def run(ctx: Context) -> list[Row]:
    # As in the submit metric: the trigger pays for its wake-ups, which nothing delivers.
    ours.set_webhook(ctx.dbs.ours, ours.DEAD_WEBHOOK, generate_webhook_secret())
    timers: dict[str, Timer] = {
        OURS: lambda n: time_ours(ctx.dbs.ours, n),
        PGMQ: lambda n: time_pgmq(ctx.dbs.ours, n),
    }
    if ctx.wants(PGQUEUER):
        timers[PGQUEUER] = lambda n: time_pgqueuer(ctx.dbs.pgqueuer, n)
    row = Row(
        "submit_batch",
        f"batch submit in SQL, {BATCH:,} jobs a call, 1 client",
        "jobs/s",
        True,
    )
    spent = {name: 0.0 for name in timers}
    total = max(1, ctx.sizes.batch_jobs // BATCH)
    per_round = [n for n in shares(total, ctx.sizes.rounds) if n]
    for round_no, batches in enumerate(per_round):
        ctx.say(f"batch: round {round_no + 1}/{len(per_round)}")
        for name, timer in timers.items():
            spent[name] += timer(batches)
    row.values = {name: total * BATCH / seconds for name, seconds in spent.items() if seconds > 0}
    ours.reset(ctx.dbs.ours)
    pgmq_raw.reset(ctx.dbs.ours)
    if ctx.wants(PGQUEUER):
        pgqueuer_peer.reset(ctx.dbs.pgqueuer)
    return [row]

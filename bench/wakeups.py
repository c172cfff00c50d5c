"""Metric: webhook requests (net.http_post calls) per job while jobs arrive at a sustained
1,000 a second, with the whole wake-up chain running (relay paced like pg_net, webhook,
process_job). One client submits with ``submit_job`` on a fixed schedule; every job must end
completed. The count is read from the request queue's id sequence, so requests the relay has
already sent and deleted still count."""

from __future__ import annotations

import asyncio
import time

import psycopg
from psycopg.types.json import Jsonb

from bench import ours
from bench.context import Context
from bench.rows import OURS, Row
from functions.db import queries

RATE = 1000  # jobs a second
NEXT_ID = "select nextval(pg_get_serial_sequence('net.http_request_queue', 'id'))"
DRAIN_TIMEOUT_S = 120.0


def _next_id(conn: psycopg.Connection) -> int:
    row = conn.execute(NEXT_ID).fetchone()
    assert row is not None
    return int(row[0])


def _submit_at_rate(database_url: str, jobs: int) -> tuple[int, float]:
    """(webhook requests queued meanwhile, jobs/s reached)."""
    params = {
        "task_name": ours.TASK_NAME,
        "payload": Jsonb({}),
        "idempotency_key": None,
        "run_at": None,
        "delay_seconds": None,
        "kind": ours.NOOP["kind"],
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = _next_id(conn)
        began = time.perf_counter()
        for seq in range(jobs):
            wait = began + seq / RATE - time.perf_counter()
            if wait > 0:
                time.sleep(wait)  # the schedule, not synchronisation
            conn.execute(queries.SUBMIT_JOB, params).fetchone()
        reached = jobs / (time.perf_counter() - began)
        last = _next_id(conn)
    return last - first - 1, reached


def _wait_all_completed(database_url: str) -> int:
    """Jobs not completed when the deadline passed (0: all completed)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(*) from public.job_results where status <> 'completed'"
            ).fetchone()
            assert row is not None
            if row[0] == 0 or time.monotonic() > deadline:
                return int(row[0])
            time.sleep(0.2)


async def _measure(ctx: Context, jobs: int) -> tuple[int, float, int]:
    dispatch = ours.Dispatch(ctx.dbs.ours, ctx.log)
    dispatch.launch()
    async with dispatch:
        requests, reached = await asyncio.to_thread(_submit_at_rate, ctx.dbs.ours, jobs)
        left = await asyncio.to_thread(_wait_all_completed, ctx.dbs.ours)
    return requests, reached, left


def run(ctx: Context) -> list[Row]:
    jobs = int(RATE * ctx.sizes.wakeup_seconds)
    ctx.say(f"wakeups: {jobs} jobs at {RATE}/s with the wake-up chain running")
    requests, reached, left = asyncio.run(_measure(ctx, jobs))
    row = Row(
        "wakeups_per_job",
        f"webhook requests per job, sustained {RATE:,} jobs/s submit",
        "req/job",
        False,
    )
    row.values[OURS] = requests / jobs
    row.note = f"{jobs:,} jobs at {reached:,.0f}/s; {requests:,} requests"
    if left:
        row.note += f"; {left} not completed after {DRAIN_TIMEOUT_S:g} s"
    ours.reset(ctx.dbs.ours)
    return [row]

"""PGMQ alone: ``pgmq.send`` (the ceiling for submit_job, which adds a job row and a trigger)
and a read + archive loop (the ceiling for our worker, which adds the job row's updates)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.types.json import Jsonb

from bench import procs
from bench.clients import SyncSend, time_threads
from bench.pg import RAW_QUEUE

BATCH = 10


@contextmanager
def client(database_url: str) -> Iterator[SyncSend]:
    with psycopg.connect(database_url, autocommit=True) as conn:

        def send(n: int) -> None:
            # The same message submit_job sends.
            message = Jsonb({"job_id": str(uuid.uuid4()), "task_name": "bench"})
            conn.execute("select pgmq.send(%s, %s)", (RAW_QUEUE, message)).fetchone()

        yield send


def time_submit(database_url: str, clients: int, jobs: int) -> float:
    return time_threads(lambda: client(database_url), clients, jobs)


def reset(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"truncate pgmq.q_{RAW_QUEUE}, pgmq.a_{RAW_QUEUE}")


def fill(database_url: str, jobs: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "select pgmq.send_batch(%s, array_agg(jsonb_build_object("
            "'job_id', gen_random_uuid(), 'task_name', 'bench'))) from generate_series(1, %s)",
            (RAW_QUEUE, jobs),
        )


def remaining(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"select count(*) from pgmq.q_{RAW_QUEUE}").fetchone()
    assert row is not None
    return int(row[0])


def drain_worker(database_url: str) -> None:
    handled = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        procs.ready()
        procs.wait_for_go()
        while True:
            rows = conn.execute(
                "select msg_id from pgmq.read(%s, 30, %s)", (RAW_QUEUE, BATCH)
            ).fetchall()
            if not rows:
                break
            ids = [row[0] for row in rows]
            conn.execute("select pgmq.archive(%s, %s::bigint[])", (RAW_QUEUE, ids)).fetchall()
            handled += len(ids)
    procs.done(handled)

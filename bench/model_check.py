"""``python -m bench.model --measure``: the scale model's two terms checked on this machine, each
prediction made from a cost measured in the same run, side by side with what happens.

- Database: a 1,000-job ``submit_jobs`` call leaves its client waiting while the server works,
  so its rate is 1,000 over the call's server time (EXPLAIN ANALYZE's execution time) plus
  its trip (the same items sent and 1,000 ids returned by a statement that does nothing else).
- Workers: a worker finishes ``batch / (task seconds + batch x its cost a job)`` jobs a second,
  its cost a job read off a no-op 1-worker drain; checked with 0.1 s tasks on 1 and 4 workers.

Each pair is measured ``REPEATS`` times back to back and the medians compared, so the load the
other sessions put on this machine moves both sides alike."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO

import psycopg
from psycopg.types.json import Jsonb

from bench import ours, procs
from bench.model import Deployment, JobCosts, per_worker_rate
from bench.pg import DEFAULT_DATA_DIR, databases
from bench.stats import median
from functions.db import queries

REPEATS = 3
BATCH = 1000
CALLS = 3
NOOP_JOBS = 2000
TASK_S = 0.1
TASK_JOBS_PER_WORKER = 200
BATCH_SIZE = 10  # what bench.ours.drain_worker claims


def _submit_jobs_server_s(conn: psycopg.Connection, items: Jsonb) -> float:
    row = conn.execute(
        # timing off: per-node clocks would add their own overhead to the server's time
        "explain (analyze, timing off, format json) select public.submit_jobs(%s, null)",
        (items,),
    ).fetchone()
    assert row is not None
    plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return float(plan[0]["Execution Time"]) / 1000


def _transport_s(conn: psycopg.Connection, items: Jsonb) -> float:
    """The same call's trip without its work: the items sent and parsed, 1,000 ids back."""
    began = time.perf_counter()
    for _ in range(CALLS):
        conn.execute(
            "select array_agg(gen_random_uuid()) from generate_series(1, jsonb_array_length(%s))",
            (items,),
        ).fetchone()
    return (time.perf_counter() - began) / CALLS


def _submit_jobs_wall_s(conn: psycopg.Connection, items: Jsonb) -> float:
    began = time.perf_counter()
    for _ in range(CALLS):
        conn.execute(queries.SUBMIT_JOBS, {"items": items, "idempotency_key": None}).fetchone()
    return (time.perf_counter() - began) / CALLS


def _fill_tasks(url: str, jobs: int, seconds: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select public.submit_job('bench', jsonb_build_object('seconds', %s::float8),"
            " kind => 'simulate') from generate_series(1, %s)",
            (seconds, jobs),
        )


def _drain_rate(url: str, workers: int, jobs: int, log: IO[str]) -> float:
    seconds, handled = procs.timed_drain("ours", url, workers, log, 600)
    if handled < jobs:
        raise RuntimeError(f"drained {handled} of {jobs}")
    return jobs / seconds


def measure(log: IO[str], say: Callable[[str], None]) -> list[tuple[str, float, float]]:
    """(what, predicted, measured) for each check."""
    results: list[tuple[str, float, float]] = []
    with databases(None, DEFAULT_DATA_DIR) as dbs:
        url = dbs.ours
        ours.set_webhook(url, None)
        items = Jsonb([{"task_name": ours.TASK_NAME, **ours.NOOP}] * BATCH)
        predicted: list[float] = []
        measured: list[float] = []
        with psycopg.connect(url, autocommit=True) as conn:
            for n in range(REPEATS):
                say(f"database term, round {n + 1}/{REPEATS}")
                cost_s = _submit_jobs_server_s(conn, items) + _transport_s(conn, items)
                predicted.append(BATCH / cost_s)
                measured.append(BATCH / _submit_jobs_wall_s(conn, items))
        results.append(("submit_jobs, 1,000 a call", median(predicted), median(measured)))

        for workers in (1, 4):
            predicted, measured = [], []
            for n in range(REPEATS):
                say(f"workers term, {workers} worker(s), round {n + 1}/{REPEATS}")
                ours.reset(url)
                ours.fill(url, NOOP_JOBS)
                worker_s = 1 / _drain_rate(url, 1, NOOP_JOBS, log)
                deployment = Deployment(batch_size=BATCH_SIZE, task_s=TASK_S)
                rate = per_worker_rate(JobCosts(worker_s=worker_s), deployment)
                predicted.append(workers * rate)
                ours.reset(url)
                jobs = TASK_JOBS_PER_WORKER * workers
                _fill_tasks(url, jobs, TASK_S)
                measured.append(_drain_rate(url, workers, jobs, log))
            results.append(
                (
                    f"drain of {TASK_S} s tasks, {workers} worker(s)",
                    median(predicted),
                    median(measured),
                )
            )
        ours.reset(url)
    return results

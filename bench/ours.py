"""Our system under the benchmark: submit_job in SQL and through the submit function, the
worker loop draining a backlog, and the whole wake-up path for dispatch latency."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import psycopg
from psycopg.types.json import Jsonb

from bench import procs
from bench.clients import SyncSend, time_threads
from bench.marks import MarkListener
from devstack.config import generate_webhook_secret
from devstack.postgres import migrate
from devstack.postgres.embedded import free_port
from devstack.services import ManagedProcess, function_process
from devstack.sweeper import drain_once
from functions.db import queries

NOOP = {"kind": "noop"}  # a no-op job's fields beside task_name (kind is one of its own)
DEAD_WEBHOOK = "http://127.0.0.1:9/unused"
TASK_NAME = "bench"


def set_webhook(database_url: str, url: str | None, secret: str = "") -> None:
    """Point the queue trigger at ``url``; None: no webhook (the trigger then does nothing)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if url is None:
            conn.execute("delete from private.settings where name like 'job_webhook_%'")
        else:
            migrate.configure_webhook(conn, url, secret)


def reset(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "truncate private.idempotency_keys, public.job_events, public.job_results,"
            " pgmq.q_work_queue, pgmq.a_work_queue, private.flow_waiting, private.flow_slots,"
            " private.flow_owners, private.flow_buckets"
        )
        conn.execute("truncate net.http_request_queue, net._http_response")


@contextmanager
def sql_client(database_url: str) -> Iterator[SyncSend]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        params = {
            "task_name": TASK_NAME,
            "payload": Jsonb({}),
            "idempotency_key": None,
            "run_at": None,
            "delay_seconds": None,
            "kind": NOOP["kind"],
        }

        def send(n: int) -> None:
            conn.execute(queries.SUBMIT_JOB, params).fetchone()

        yield send


@contextmanager
def http_client(port: int) -> Iterator[SyncSend]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"task_name": TASK_NAME, **NOOP}).encode()
    headers = {"Content-Type": "application/json"}

    def send(n: int) -> None:
        conn.request("POST", "/jobs", body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 202:
            raise RuntimeError(f"submit answered {response.status}")

    try:
        yield send
    finally:
        conn.close()


def time_submit_sql(database_url: str, clients: int, jobs: int) -> float:
    return time_threads(lambda: sql_client(database_url), clients, jobs)


def time_submit_http(port: int, clients: int, jobs: int) -> float:
    return time_threads(lambda: http_client(port), clients, jobs)


@contextmanager
def submit_function(database_url: str, log: IO[str]) -> Iterator[int]:
    """The submit function under functions-framework; yields its port."""
    port = free_port()
    process = function_process("submit", port, {"DATABASE_URL": database_url}, log).start()
    try:
        yield port
    finally:
        process.stop()


# Drain: a backlog of no-op jobs, then Worker + PgWorkQueue in ``workers`` processes.


def fill(database_url: str, jobs: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "select public.submit_job(%s, '{}', kind => %s) from generate_series(1, %s)",
            (TASK_NAME, NOOP["kind"], jobs),
        )


def remaining(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select (select count(*) from pgmq.q_work_queue)"
            " + (select count(*) from public.job_results where status <> 'completed')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def drain_worker(database_url: str) -> None:
    """In a worker process: what process_job wires up, without its log handler."""
    from functions.core.retry import RetryPolicy
    from functions.core.tasks import registry
    from functions.db.connections import pool_for
    from functions.db.store import PgWorkQueue
    from functions.worker import Worker, WorkerSettings

    queue = PgWorkQueue(database_url)
    worker = Worker(
        queue=queue,
        registry=registry,
        policy=RetryPolicy(),
        settings=WorkerSettings(batch_size=10, visibility_s=30, task_timeout_s=600),
    )
    pool_for(database_url).wait(timeout=10)
    procs.ready()
    procs.wait_for_go()
    began = time.monotonic()
    report = worker.drain(time.monotonic() + 3600)
    # Into the run's log: a drain that runs slow (bench/results/ISSUE24.md, "Session 4") says
    # what it did and for how long.
    print(
        f"drain worker {os.getpid()}: {report} in {time.monotonic() - began:.2f} s",
        file=sys.stderr,
        flush=True,
    )
    procs.done(report.completed)


# Dispatch: the real path, trigger → relay → webhook → process_job → task.


class Dispatch:
    """The webhook and process_job functions and the relay, running; ``enqueue`` submits one
    job and answers (key, time right after commit)."""

    name = "ours"

    def __init__(self, database_url: str, log: IO[str], idle_linger_s: float | None = None) -> None:
        self._url = database_url
        self._log = log
        # None: process_job's default linger (a warm worker); 0: every job takes the webhook.
        self._idle_linger_s = idle_linger_s
        self._processes: list[ManagedProcess] = []
        self._ports: dict[str, int] = {}
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._secret = ""
        self.marks = MarkListener(database_url)

    def launch(self) -> None:
        """Spawn the processes (without waiting for them)."""
        secret = self._secret = generate_webhook_secret()
        self._ports = {"webhook": free_port(), "process_job": free_port()}
        process_job_url = f"http://127.0.0.1:{self._ports['process_job']}"
        reset(self._url)
        set_webhook(self._url, f"http://127.0.0.1:{self._ports['webhook']}", secret)
        envs = {
            "webhook": {"WEBHOOK_SECRET": secret, "PROCESS_JOB_URL": process_job_url},
            "process_job": {
                "DATABASE_URL": self._url,
                "WEBHOOK_SECRET": secret,
                "TASK_MODULES": "bench.tasks",
                **(
                    {"WORKER_LINGER_SECONDS": str(self._idle_linger_s)}
                    if self._idle_linger_s is not None
                    else {}
                ),
            },
        }
        for name, env in envs.items():
            process = function_process(name, self._ports[name], env, self._log)
            process.port = None  # waited for in __aenter__, so all start side by side
            self._processes.append(process.start())
        relay = ManagedProcess(
            "relay",
            [sys.executable, "-m", "devstack.relay"],
            # By environment: a command line (and the URL's password in it) is visible to ps.
            env={"PYTHONUNBUFFERED": "1", "DATABASE_URL": self._url},
            log_sink=self._log,
        )
        self._processes.append(relay.start())

    async def __aenter__(self) -> Dispatch:
        for process, port in zip(self._processes, self._ports.values(), strict=False):
            process.port = port
            await asyncio.to_thread(process.wait_until_listening, 60)
        # As a deployment's first run does: the worker's cold start publishes its task kinds
        # (bench_mark among them), which the database then accepts as a job's kind.
        process_job_url = f"http://127.0.0.1:{self._ports['process_job']}"
        await asyncio.to_thread(drain_once, process_job_url, self._secret, 60)
        await self.marks.__aenter__()
        self._conn = await psycopg.AsyncConnection.connect(self._url)
        return self

    async def enqueue(self, seq: int) -> tuple[str, float]:
        assert self._conn is not None
        cursor = await self._conn.execute(
            queries.SUBMIT_JOB,
            {
                "task_name": TASK_NAME,
                "payload": Jsonb({}),
                "idempotency_key": None,
                "run_at": None,
                "delay_seconds": None,
                "kind": "bench_mark",
            },
        )
        row = await cursor.fetchone()
        committed = time.time()  # see dispatch_latency: the clock starts as the commit is sent
        await self._conn.commit()
        assert row is not None
        return str(row[0]), committed

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()
        await self.marks.__aexit__(None, None, None)
        for process in reversed(self._processes):
            process.stop()
        set_webhook(self._url, None)

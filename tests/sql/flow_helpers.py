"""Flow control under real locks: claimers that run jobs through the worker's SQL, and a sampler
of running jobs per concurrency key (from job_results, every 10 ms)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

CLAIM = "select * from private.claim_jobs(%s, %s, 30, 0, 1, false)"
START = "select attempt from private.start_attempt(%s, %s, %s)"
FINISH = """select private.finish_attempts(%s::uuid[], %s::int[], %s::text[], %s::text[],
    %s::text[], %s::bigint[])"""


def set_flow(db: psycopg.Connection, kind: str, flow: dict[str, Any]) -> None:
    db.execute("update task_kinds set flow = %s where kind = %s", (Jsonb(flow), kind))


def act_as(conn: psycopg.Connection, owner: str | None) -> None:
    """The transaction's caller (auth.uid()), as the API sets it; None for public jobs."""
    sub = owner or ""
    conn.execute(
        "select set_config('request.jwt.claims', %s, true),"
        " set_config('request.jwt.claim.sub', %s, true)",
        (f'{{"sub": "{sub}", "role": "authenticated"}}' if owner else "", sub),
    )


class Claimer(threading.Thread):
    """A worker in a thread: claims, 'runs' each job for run_s, finishes it, until stopped."""

    def __init__(self, url: str, run_s: tuple[float, float], batch: int = 4) -> None:
        super().__init__(daemon=True)
        self.url, self.run_s, self.batch = url, run_s, batch
        self.holder = f"claimer-{uuid.uuid4().hex[:8]}"
        self.stop = threading.Event()
        self.done = 0
        self.error: BaseException | None = None
        self.started_order: list[str] = []

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while not self.stop.is_set():
                    if not self._round(conn):
                        self.stop.wait(0.002)  # nothing to start: look again, unless told to stop
        except BaseException as error:  # surfaced by the test
            self.error = error

    def _round(self, conn: psycopg.Connection) -> bool:
        rows = conn.execute(CLAIM, (self.holder, self.batch)).fetchall()
        running: list[tuple[Any, int, int]] = []
        for msg_id, _read_ct, delivery, job_id, _kind, _name, _payload, attempt in rows:
            if delivery == "started":
                running.append((job_id, attempt, msg_id))
            elif delivery == "redelivered":
                again = conn.execute(START, (self.holder, msg_id, job_id)).fetchone()
                if again is not None:
                    running.append((job_id, again[0], msg_id))
        for job_id, _, _ in running:
            self.started_order.append(str(job_id))
        if running:
            time.sleep(random.uniform(*self.run_s))
            conn.execute(
                FINISH,
                (
                    [r[0] for r in running],
                    [r[1] for r in running],
                    ["completed"] * len(running),
                    ["ok"] * len(running),
                    [None] * len(running),
                    [r[2] for r in running],
                ),
            )
            self.done += len(running)
        return bool(rows)


class Sampler(threading.Thread):
    """Every 10 ms: the running jobs per concurrency key; keeps each key's maximum."""

    def __init__(self, url: str, column: str = "concurrency_key") -> None:
        super().__init__(daemon=True)
        self.url = url
        self.query = (
            f"select {column}, count(*) from job_results where status = 'running' group by 1"
        )
        self.stop = threading.Event()
        self.most: Counter[str] = Counter()
        self.samples = 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                for key, count in conn.execute(self.query).fetchall():
                    self.most[str(key)] = max(self.most[str(key)], count)
                self.samples += 1
                self.stop.wait(0.01)


def status_counts(db: psycopg.Connection) -> dict[str, int]:
    return dict(db.execute("select status, count(*) from job_results group by 1").fetchall())

"""Recovery in seconds, without a new submission and without the HTTP sweeper (issue 17): real
processes on loopback (submit, the relay, the webhook, process_job under functions-framework),
the sweep as the SQL function ``private.sweep()`` ticking every second as Supabase Cron would run
it (tests/sql_sweep.py), failures injected with SIGKILL and a real database restart.

- A worker SIGKILLed mid-drain: every job it was running starts again within 15 s of the kill.
- A job submitted while the dead worker's lease stands starts within 15 s.
- The database restarted mid-drain: every job it was running is started again (or finished)
  within 15 s of the database answering again.

Each test watches for ``RECOVERY_OBSERVE_S`` (20) so a miss reports how late (or "never") each
job was, then fails on the 15-s target. Where ``private.sweep()`` does not exist the scenario
runs with nothing sweeping and the test fails naming it, with the numbers measured without it.
``RECOVERY_SWEEP=cron`` has pg_cron run the sweep on the PG 15 cluster of tests/cron_cluster.py
(a '1 seconds' schedule, which needs pg_cron >= 1.5) instead of the ticker thread.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.postgres import migrate
from devstack.postgres.embedded import embedded
from devstack.services import function_process
from tests import sql_sweep
from tests.cron_cluster import CronCluster
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for

# ticker: a thread calls the SQL every second; cron: pg_cron on the PG 15 cluster of
# tests/cron_cluster.py runs it on a '1 seconds' schedule (needs pg_cron >= 1.5).
DRIVER = os.environ.get("RECOVERY_SWEEP", "ticker")
TARGET_S = 15.0
OBSERVE_S = float(os.environ.get("RECOVERY_OBSERVE_S", "20"))
JOBS = 10  # one batch: all running at once in one worker
TASK_S = 5.0
ENV = {"TASK_MAX_SECONDS": "30"}  # simulate runs its full ``seconds`` (the stack caps it at 0.4)

Row = tuple[str, int, float | None]  # status, attempts, started_at (unix seconds)


def _jobs(url: str, ids: list[str]) -> dict[str, Row]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select job_id::text, status, attempts, started_at from job_results"
            " where job_id = any(%s::uuid[])",
            (ids,),
        ).fetchall()
    return {
        job_id: (status, attempts, started.timestamp() if isinstance(started, datetime) else None)
        for job_id, status, attempts, started in rows
    }


def _submit_batch(stack: Stack, count: int, seconds: float) -> list[str]:
    items = [
        {"task_name": f"recover {i}", "kind": "simulate", "payload": {"seconds": seconds}}
        for i in range(count)
    ]
    status, body = stack.request("submit", "POST", "/jobs", items)
    assert status == 202, body
    return [str(job_id) for job_id in body["job_ids"]]


def _all_running(url: str, ids: list[str]) -> dict[str, Row] | None:
    jobs = _jobs(url, ids)
    return jobs if sum(row[0] == "running" for row in jobs.values()) == len(ids) else None


def _restart_process_job(stack: Stack) -> None:
    """A fresh process_job on the same port, as the platform would start the next invocation's
    instance; it drains only when something invokes it."""
    sink = {"log_sink": stack.log_sink} if stack.log_sink is not None else {}
    port = stack.ports["process_job"]
    env = stack.env_for("process_job")
    stack.processes["process_job"] = function_process("process_job", port, env, **sink).start()


def _restarts(url: str, before: dict[str, Row], since: float) -> dict[str, float | None]:
    """Seconds after ``since`` at which each job began a new attempt (or was seen finished
    without one); None for a job that did neither within OBSERVE_S."""
    seen: dict[str, float | None] = dict.fromkeys(before)
    deadline = since + OBSERVE_S
    while True:
        now = time.time()
        for job_id, (status, attempts, started) in _jobs(url, list(before)).items():
            if seen[job_id] is not None:
                continue
            if attempts > before[job_id][1] and started is not None:
                seen[job_id] = round(started - since, 2)
            elif status in ("completed", "failed"):
                seen[job_id] = round(now - since, 2)
        if all(v is not None for v in seen.values()) or now > deadline:
            return seen
        time.sleep(0.1)  # polling the database: the condition is the jobs' rows


def _late(seen: dict[str, float | None]) -> dict[str, float | None]:
    return {k: v for k, v in seen.items() if v is None or v > TARGET_S}


def _verdict(what: str, url_problem: str | None, details: dict[str, Any]) -> None:
    late: dict[str, float | None] = details["late"]
    shown = {**details, "late": f"{len(late)} job(s) not started again in {TARGET_S:g} s"}
    lines = [f"{what}: {shown}"]
    if url_problem:
        lines.append(url_problem)
    assert not late and not url_problem, "\n".join(lines)


@pytest.fixture
def sweep_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database: the embedded server's, or the pg_cron cluster's."""
    fixture = "cron_db_url" if DRIVER == "cron" else "embedded_db_url"
    return str(request.getfixturevalue(fixture))


def _sweeping(url: str) -> AbstractContextManager[sql_sweep.Sweep | None]:
    return sql_sweep.sweeping(url, 1.0, DRIVER)


def test_a_worker_killed_mid_drain_has_every_job_started_again_within_15s(
    sweep_db_url: str,
) -> None:
    url = sweep_db_url
    problem = sql_sweep.missing(url)
    with running_stack(url, extra_env=ENV) as stack, _sweeping(url) as sweep:
        ids = _submit_batch(stack, JOBS, TASK_S)
        before = wait_for(lambda: _all_running(url, ids), timeout=30, what="the batch to run")
        killed_at = time.time()
        stack.processes["process_job"].kill()
        _restart_process_job(stack)
        seen = _restarts(url, before, killed_at)
        late = _late(seen)
        completed = None
        if not late:
            wait_for(
                lambda: all(r[0] == "completed" for r in _jobs(url, ids).values()),
                timeout=60,
                what="every job to complete",
            )
            completed = True
    details = {
        "restarted_after_s": sorted(seen.values(), key=lambda v: (v is None, v or 0)),
        "late": late,
        "completed": completed,
        "sweeps": None if sweep is None else sweep.runs,
    }
    _verdict("SIGKILL mid-drain", problem, details)


class CapturedLog(io.StringIO):
    """The children's prefixed log lines, kept (and passed on to stderr) for a test to wait on."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            sys.stderr.write(text)
            return super().write(text)

    def text(self) -> str:
        with self._lock:
            return self.getvalue()


# The webhook's invoker retries the call the kill cut off, and that retry's drain (on the new
# instance) holds a lease of its own until it leaves; the job is submitted after it has left,
# when only the dead worker's lease stands. Its end shows as the invoker's last word on the call.
RETRY_DONE = ("answered on try", "will pick the message up")
RETRY_WAIT_S = 10.0


def test_a_job_submitted_while_a_dead_workers_lease_stands_starts_within_15s(
    sweep_db_url: str,
) -> None:
    url = sweep_db_url
    problem = sql_sweep.missing(url)
    log = CapturedLog()
    with (
        running_stack(url, extra_env=ENV, log_sink=log) as stack,
        _sweeping(url) as sweep,
    ):
        holder = stack.submit("lease holder", kind="simulate", payload={"seconds": 20})
        wait_for(lambda: _all_running(url, [holder]), timeout=30, what="the worker to run")
        killed_at, killed_at_wall = time.monotonic(), time.time()
        stack.processes["process_job"].kill()
        _restart_process_job(stack)
        # Bounded: a version whose webhook does not retry says nothing, and waits RETRY_WAIT_S.
        wait_for(
            lambda: (
                any(word in log.text() for word in RETRY_DONE)
                or time.monotonic() - killed_at > RETRY_WAIT_S
            ),
            timeout=RETRY_WAIT_S + 5,
            what="the webhook's retry of the cut-off call to end",
        )
        submitted_at = time.time()
        job_id = stack.submit("after the kill", kind="noop")
        seen = _restarts(url, {job_id: ("pending", 0, None)}, submitted_at)
    details = {
        "submitted_after_kill_s": round(submitted_at - killed_at_wall, 2),
        "started_after_s": seen[job_id],
        "late": _late(seen),
        "sweeps": None if sweep is None else sweep.runs,
    }
    _verdict("job submitted under a dead worker's lease", problem, details)


@pytest.fixture
def restartable_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, Callable[[], None]]]:
    """(a migrated database, how to restart its server): a Postgres of this test's own, or with
    RECOVERY_SWEEP=cron the pg_cron cluster."""
    if DRIVER == "cron":
        cluster: CronCluster = request.getfixturevalue("pg_cron_cluster")
        yield request.getfixturevalue("cron_db_url"), cluster.restart
        return
    folder = Path(tempfile.mkdtemp(prefix="recovery-pg-"))
    pg = embedded(folder).start()

    def restart() -> None:
        pg.stop(mode="fast")
        pg.start()

    try:
        migrate.migrate(pg.url)
        yield pg.url, restart
    finally:
        pg.stop(mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_database_restart_mid_drain_has_every_job_started_again_within_15s(
    restartable_db: tuple[str, Callable[[], None]],
) -> None:
    url, restart = restartable_db
    problem = sql_sweep.missing(url)
    with running_stack(url, extra_env=ENV) as stack, _sweeping(url) as sweep:
        ids = _submit_batch(stack, JOBS, TASK_S)
        before = wait_for(lambda: _all_running(url, ids), timeout=30, what="the batch to run")
        stopped_at = time.time()
        restart()
        back_at = time.time()
        seen = _restarts(url, before, back_at)
        late = _late(seen)
        completed = None
        if not late:
            wait_for(
                lambda: all(r[0] == "completed" for r in _jobs(url, ids).values()),
                timeout=60,
                what="every job to complete",
            )
            completed = True
    details = {
        "outage_s": round(back_at - stopped_at, 2),
        "restarted_after_s": sorted(seen.values(), key=lambda v: (v is None, v or 0)),
        "late": late,
        "completed": completed,
        "sweeps": None if sweep is None else sweep.runs,
    }
    _verdict("database restart mid-drain", problem, details)

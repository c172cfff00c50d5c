"""Exactly once, no deadlocks: 200 short tasks that report progress, through the real stack
(submit's batch ``POST /jobs``, the relay, the webhook, process_job under functions-framework)
and no sweeper, so nothing hides a job left behind. Each task appends to a side-effect log each
time it executes. Per run: every job completed, 0 deadlocks (Postgres's counter for the test
database and the server log, with ``log_lock_waits`` on), each task executed exactly once, no
job with attempts > 1.

Repeated ``EXACTLY_ONCE_RUNS`` times (3; the issue's measurement is 20), each run a test of its
own, so the summary says how many runs failed. ``EXACTLY_ONCE_JOBS`` (200) sets the burst;
``EXACTLY_ONCE_CSV`` names a file each run appends its numbers to. ``EXACTLY_ONCE_SUBMIT=single``
posts the jobs one by one from 8 clients instead of one batch; ``EXACTLY_ONCE_ANALYZE=1`` analyzes
job_results once the first batch runs (as autovacuum would mid-burst). ``EXACTLY_ONCE_HISTORY``
(5000; 0 for a fresh table) gives the database a past first: finished jobs, half deleted, the
table vacuumed and analyzed (see test_lock_order.py for why the plans this brings matter).
``EXACTLY_ONCE_SERVER=pg15`` runs on the PG 15 cluster of tests/cron_cluster.py instead of the
embedded server. The deadlock assertion uses the test database's own counter; the server-log
counts (lines since the run began, from any database of that server) are reported alongside.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import TEST_PG_DIR
from tests.cron_cluster import CronCluster
from tests.local_stack import Stack, running_stack
from tests.lock_watch import DEADLOCK, ServerLog, deadlocks, log_lock_waits
from tests.waiting import wait_for

# The server log is shared: the test that plants a deadlock must not run beside those that
# count deadlocks in it (pytest-xdist runs one group on one worker, one test at a time).
pytestmark = pytest.mark.xdist_group("server-log")

SERVER = os.environ.get("EXACTLY_ONCE_SERVER", "embedded")
# 1: ANALYZE job_results once the first batch runs, as autovacuum does in a long-lived database
# mid-burst; the planner then joins the outcome and progress writes to the rows by other plans.
ANALYZE = os.environ.get("EXACTLY_ONCE_ANALYZE", "0") == "1"
# Rows of finished jobs the database holds before the burst (half of them then deleted, and the
# table vacuumed and analyzed, as in a database that has run a while): free space scattered
# through the table and statistics, so the writes meet the plans and row orders of production.
HISTORY = int(os.environ.get("EXACTLY_ONCE_HISTORY", "5000"))
HISTORY_SQL = """
select submit_job('history', '{}', kind => 'noop') from generate_series(1, %s);
delete from pgmq.q_work_queue;
update job_results set status = 'completed', attempts = 1, started_at = now(), finished_at = now();
delete from job_results where random() < 0.5;
"""
SUBMIT = os.environ.get("EXACTLY_ONCE_SUBMIT", "batch")  # or "single": one POST a job, 8 clients
RUNS = int(os.environ.get("EXACTLY_ONCE_RUNS", "3"))
JOBS = int(os.environ.get("EXACTLY_ONCE_JOBS", "200"))
TASK = {"seconds": 0.5, "steps": 10}  # ten progress reports, 50 ms apart
# No sweeper runs, so a job left behind never finishes: the run ends when every job is
# terminal, or when nothing has changed for STALL_S, or at DEADLINE_S.
DEADLINE_S = 30 + JOBS * 0.5
STALL_S = 20.0


def _add_history(url: str, jobs: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(HISTORY_SQL.replace("%s", str(int(jobs))))
        conn.execute("vacuum analyze job_results")
        conn.execute("truncate net.http_request_queue")  # the history's own wake-up


def _state(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select count(*) filter (where task_name <> 'history'),
                      count(*) filter (where status = 'completed' and task_name <> 'history'),
                      count(*) filter (where status = 'failed'),
                      count(*) filter (where status = 'running'),
                      count(*) filter (where status = 'pending'),
                      count(*) filter (where attempts > 1),
                      coalesce(max(attempts), 0)
               from job_results"""
        ).fetchone()
    assert row is not None
    keys = ("jobs", "completed", "failed", "running", "pending", "retried", "max_attempts")
    return dict(zip(keys, map(int, row), strict=True))


def _settle(url: str, expected: int) -> tuple[dict[str, int], float]:
    """The jobs' state once all are terminal or progress has stalled; seconds it took."""
    began = time.monotonic()
    last: dict[str, int] = {}
    changed = began
    while True:
        state = _state(url)
        now = time.monotonic()
        if state["completed"] + state["failed"] >= expected:
            return state, now - began
        if state != last:
            last, changed = state, now
        if now - changed > STALL_S or now - began > DEADLINE_S:
            return state, now - began
        time.sleep(0.1)  # polling the database: the condition is the jobs' state


def _submit(stack: Stack, items: list[dict[str, Any]]) -> set[str]:
    if SUBMIT == "batch":
        status, body = stack.request("submit", "POST", "/jobs", items)
        assert status == 202, body
        return {str(job_id) for job_id in body["job_ids"]}
    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(lambda item: stack.submit(**item), items))


def _executions(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    return Counter(line.split()[0] for line in log.read_text().splitlines() if line.strip())


def _record(row: dict[str, Any]) -> None:
    target = os.environ.get("EXACTLY_ONCE_CSV")
    if not target:
        return
    path = Path(target)
    new = not path.exists()
    with path.open("a", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> tuple[str, Path]:
    """(a fresh migrated database's URL, its server's log file)."""
    if SERVER == "pg15":
        cluster: CronCluster = request.getfixturevalue("pg_cron_cluster")
        return request.getfixturevalue("cron_db_url"), cluster.server.data_dir / "postgres.log"
    if SERVER != "embedded":
        raise ValueError(f"EXACTLY_ONCE_SERVER is embedded or pg15, not {SERVER!r}")
    return request.getfixturevalue("embedded_db_url"), TEST_PG_DIR / "postgres.log"


@pytest.mark.parametrize("run", range(1, RUNS + 1))
def test_short_tasks_with_progress_run_exactly_once_without_deadlocks(
    target: tuple[str, Path], tmp_path: Path, run: int
) -> None:
    url, log_file = target
    log_lock_waits(url)
    if HISTORY:
        _add_history(url, HISTORY)
    side_effects = tmp_path / "side-effects.log"
    server_log = ServerLog.mark(log_file)
    env = {"SIDE_EFFECT_LOG": str(side_effects)}
    with running_stack(url, extra_env=env) as stack:
        items = [
            {"task_name": f"progress {i}", "kind": "progress_log", "payload": TASK}
            for i in range(JOBS)
        ]
        job_ids = _submit(stack, items)
        if ANALYZE:
            wait_for(lambda: _state(url)["running"] >= 5, timeout=30, what="a batch to run")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("analyze job_results")
        state, took = _settle(url, JOBS)
    executions = _executions(side_effects)
    summary: dict[str, Any] = {
        "run": run,
        "server": SERVER,
        "submit": SUBMIT,
        "analyze": ANALYZE,
        "history": HISTORY,
        "jobs": JOBS,
        "seconds": round(took, 1),
        **state,
        "deadlocks": deadlocks(url),
        "log_deadlocks": server_log.count(DEADLOCK),
        "log_lock_waits": server_log.lock_waits(),
        "executed": sum(executions.values()),
        "executed_twice": sum(1 for n in executions.values() if n > 1),
        "never_executed": len(job_ids - set(executions)),
        "load_1m": round(os.getloadavg()[0], 2),
    }
    _record(summary)
    print(summary)
    assert summary["completed"] == JOBS, summary
    assert summary["deadlocks"] == 0, summary
    assert summary["executed_twice"] == 0 and summary["executed"] == JOBS, summary
    assert summary["retried"] == 0, summary

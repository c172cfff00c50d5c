"""One lock order (issue 17): the outcome write and the heartbeat's progress write, given the same
two running jobs in opposite orders and forced to interleave with real row locks, never
deadlock. Goes through the worker's queue port (PgWorkQueue.finish / report_progress), so it
holds whatever SQL stands behind them.

The interleaving: two blocker sessions hold job A's and job B's rows. The outcome write (A, B)
waits on A; the progress write (B, A) waits on B. A is released: the outcome write takes A and
queues on B behind the progress write. B is released: the progress write, first in B's queue,
takes B and asks for A, which the outcome write holds. With writes that lock in one order (or a
progress write that gives way) that last step cannot happen.

Which order an ``UPDATE ... FROM unnest(...)`` locks rows in is the planner's: with statistics
(``analyze``, as autovacuum keeps them in any database that has run a while) the ten-report
progress write hashes the running rows and walks its array (the array's order), while the
two-outcome write walks the running rows (the table's order). A fresh, never-analyzed table
gives both the table's order, which is why the end-to-end test (test_exactly_once.py) rarely
meets the deadlock on fresh databases while a long-lived one does. Fails today, deterministically,
with "deadlock detected": either write is the victim (the outcome write's leaves both jobs
running, the 503 and the second run of issue 17)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from functions.core.models import JobStatus, Outcome, ProgressReport
from functions.db.store import PgWorkQueue
from tests.conftest import TEST_PG_DIR
from tests.lock_watch import DEADLOCK, ServerLog, log_lock_waits
from tests.waiting import wait_for

# The server log is shared: the test that plants a deadlock must not run beside those that
# count deadlocks in it (pytest-xdist runs one group on one worker, one test at a time).
pytestmark = pytest.mark.xdist_group("server-log")

BATCH = 10


class Call(threading.Thread):
    """Runs one queue call on a connection of its own (closed afterwards); keeps its error."""

    def __init__(self, queue: PgWorkQueue, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.queue, self.call = queue, call
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.call()
        except BaseException as exc:
            self.error = exc
        finally:
            conn = getattr(self.queue._local, "conn", None)  # this thread's own connection
            if conn is not None:
                conn.close()


def _lock_waiters(url: str) -> set[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select pid from pg_stat_activity where datname = current_database()"
            " and wait_event_type = 'Lock'"
        ).fetchall()
    return {pid for (pid,) in rows}


def _blocked_by(url: str, pid: int) -> set[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select pg_blocking_pids(%s)", (pid,)).fetchone()
    return set(row[0]) if row and row[0] else set()


def _moved_past(url: str, pid: int, holder: int) -> bool:
    """Whether ``pid`` waits again, no longer on ``holder`` (it took what ``holder`` held)."""
    blockers = _blocked_by(url, pid)
    return bool(blockers) and holder not in blockers


def _hold_row(url: str, job_id: object) -> tuple[psycopg.Connection, int]:
    conn = psycopg.connect(url)
    conn.execute("select 1 from job_results where job_id = %s for update", (job_id,))
    pid = conn.execute("select pg_backend_pid()").fetchone()
    assert pid is not None
    return conn, int(pid[0])


def _start_waiting(url: str, call: Call, known: set[int]) -> int | None:
    """Start ``call`` and wait until it waits on a lock (its pid) or has ended (None)."""
    call.start()

    def waiting_or_ended() -> set[int] | None:
        new = _lock_waiters(url) - known
        return new or (None if call.is_alive() else {-1})

    found = wait_for(waiting_or_ended, timeout=10, what="the call to wait on a row lock or end")
    pid = min(found)
    return None if pid == -1 else pid


def test_outcome_and_progress_writes_in_opposite_orders_never_deadlock(
    embedded_db_url: str,
) -> None:
    url = embedded_db_url
    log_lock_waits(url)
    log = ServerLog.mark(TEST_PG_DIR / "postgres.log")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select submit_job('lock order', '{}', kind => 'noop') from generate_series(1, %s)",
            (BATCH,),
        )
        # As in any database that has run a while: statistics, here saying nothing runs.
        conn.execute("analyze job_results")
    queue = PgWorkQueue(url)
    started = queue.claim("lock-order-worker", BATCH, 30).started
    assert len(started) == BATCH
    a, b = started[:2]
    # Two tasks of the batch end together; meanwhile the heartbeat reports on all ten, in
    # another order (the worker's own orders depend on when each task started and ended).
    outcomes = [Outcome(c, JobStatus.COMPLETED, "ok", None) for c in (a, b)]
    reports = [ProgressReport(c.message.job_id, c.attempt, 1, 2, "half") for c in reversed(started)]

    hold_a, pid_a = _hold_row(url, a.message.job_id)
    hold_b, _ = _hold_row(url, b.message.job_id)
    finish = Call(PgWorkQueue(url), lambda: finish.queue.finish(outcomes))
    progress = Call(PgWorkQueue(url), lambda: progress.queue.report_progress(reports))
    try:
        finish_pid = _start_waiting(url, finish, set())
        _start_waiting(url, progress, {finish_pid} if finish_pid else set())
        hold_a.rollback()
        if finish_pid is not None:
            wait_for(
                lambda: _moved_past(url, finish_pid, pid_a) or not finish.is_alive(),
                timeout=10,
                what="the outcome write to take A and wait again",
            )
        hold_b.rollback()
        finish.join(timeout=30)
        progress.join(timeout=30)
    finally:
        hold_a.close()
        hold_b.close()
    with psycopg.connect(url) as conn:
        statuses = sorted(
            str(s)
            for (s,) in conn.execute(
                "select status from job_results where job_id = any(%s)",
                ([a.message.job_id, b.message.job_id],),
            ).fetchall()
        )
    found = {
        "outcome_write_error": repr(finish.error),
        "progress_write_error": repr(progress.error),
        "deadlocks_in_server_log": log.count(DEADLOCK),
        "statuses": statuses,
    }
    print(found)
    assert finish.error is None and progress.error is None, found
    assert found["deadlocks_in_server_log"] == 0, found
    assert statuses == ["completed", "completed"], found

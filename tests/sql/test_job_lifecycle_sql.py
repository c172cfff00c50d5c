"""The job lifecycle in the database: delayed start, cancel_job, retry_job, job_events, the
cancel rule every writer obeys, and who may call and read what."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from functions.core.models import JobStatus, NewJob, Outcome, ProgressReport
from functions.core.retry import RetryPolicy
from functions.core.tasks import registry
from functions.db.store import PgJobStore, PgWorkQueue
from functions.worker import Worker, WorkerSettings
from tests.waiting import wait_for

HOLDER = "test-worker"  # the lease holder these claims are made for


def submit(db: psycopg.Connection, **extra: Any) -> uuid.UUID:
    names = ", ".join(f"{k} => %({k})s" for k in extra)
    row = db.execute(
        f"select submit_job('t', %(payload)s, kind => 'noop'{', ' if names else ''}{names})",
        {"payload": Jsonb({}), **extra},
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def job(db: psycopg.Connection, job_id: uuid.UUID) -> dict[str, Any]:
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("select * from job_results where job_id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def events(db: psycopg.Connection, job_id: uuid.UUID) -> list[tuple[int, int, str, str]]:
    rows = db.execute(
        "select run, attempt, event, status from job_events where job_id = %s order by event_id",
        (job_id,),
    ).fetchall()
    return [tuple(r) for r in rows]


def visible_messages(db: psycopg.Connection) -> int:
    row = db.execute("select count(*) from pgmq.q_work_queue where vt <= clock_timestamp()")
    one = row.fetchone()
    assert one is not None
    return int(one[0])


def test_a_delayed_job_is_scheduled_and_its_message_invisible_until_due(
    db: psycopg.Connection,
) -> None:
    db.execute(
        "insert into private.settings values ('job_webhook_url', 'http://127.0.0.1:9/hook'),"
        " ('job_webhook_secret', 'whsec_c2Vrcml0LXNla3JpdC1zZWtyaXQtc2Vrcml0')"
    )
    submit(db)  # at once: one webhook call
    db.execute("select pgmq.purge_queue('work_queue')")
    due = datetime.now(UTC) + timedelta(minutes=5)
    job_id = submit(db, run_at=due)
    row = job(db, job_id)
    assert row["status"] == "scheduled" and row["run_at"] == due
    vt = db.execute("select vt from pgmq.q_work_queue where msg_id = %s", (row["msg_id"],))
    one = vt.fetchone()
    assert one is not None and one[0] == due  # to the microsecond, not PGMQ's whole seconds
    assert visible_messages(db) == 0
    assert events(db, job_id) == [(1, 0, "scheduled", "scheduled")]
    # No webhook call was queued for it: the sweeper wakes the worker when it is due.
    calls = db.execute("select count(*) from net.http_request_queue").fetchone()
    assert calls is not None and calls[0] == 1


def test_delay_seconds_counts_from_the_database_clock(db: psycopg.Connection) -> None:
    job_id = submit(db, delay_seconds=60.5)
    row = db.execute(
        "select run_at - created_at, status from job_results where job_id = %s", (job_id,)
    ).fetchone()
    assert row is not None
    assert row[0] == timedelta(seconds=60.5) and row[1] == "scheduled"
    assert job(db, submit(db, delay_seconds=0))["status"] == "pending"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"delay_seconds": -1}, "delay_seconds must be"),
        ({"delay_seconds": 2592001}, "delay_seconds must be"),
        ({"run_at": datetime.now(UTC) + timedelta(days=31)}, "at most 30 days"),
        ({"run_at": datetime.now(UTC), "delay_seconds": 1}, "not both"),
    ],
)
def test_bad_start_times_store_nothing(
    db: psycopg.Connection, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(psycopg.Error) as caught:
        submit(db, **extra)
    assert caught.value.sqlstate == "22023" and message in str(caught.value)
    counts = db.execute("select count(*) from job_results").fetchone()
    assert counts is not None and counts[0] == 0


def test_the_start_time_is_part_of_the_idempotency_fingerprint(db: psycopg.Connection) -> None:
    first = submit(db, idempotency_key="k", delay_seconds=10)
    assert submit(db, idempotency_key="k", delay_seconds=10) == first
    with pytest.raises(psycopg.Error) as caught:
        submit(db, idempotency_key="k", delay_seconds=20)
    assert caught.value.sqlstate == "SJ422"


def test_cancelling_a_pending_job_archives_its_message(db: psycopg.Connection) -> None:
    job_id = submit(db)
    before = db.execute("select cancel_job(%s)", (job_id,)).fetchone()
    assert before is not None and before[0] == "pending"
    assert job(db, job_id)["status"] == "cancelled"
    assert visible_messages(db) == 0
    # Again: nothing changes, and the answer says it was cancelled already.
    again = db.execute("select cancel_job(%s)", (job_id,)).fetchone()
    assert again is not None and again[0] == "cancelled"
    assert [e[2] for e in events(db, job_id)] == ["submitted", "cancelled"]
    missing = db.execute("select cancel_job(%s)", (uuid.uuid4(),)).fetchone()
    assert missing is not None and missing[0] is None


def test_a_running_job_is_marked_and_any_later_failure_or_retry_ends_it_cancelled(
    db: psycopg.Connection,
) -> None:
    queue = PgWorkQueue(db.info.dsn)
    for settle in ("retry", "fail"):
        job_id = submit(db)
        [claim] = queue.claim(HOLDER, 10, 30).started
        before = db.execute("select cancel_job(%s)", (job_id,)).fetchone()
        assert before is not None and before[0] == "running"
        assert job(db, job_id)["status"] == "running"
        assert queue.cancel_requested([job_id, uuid.uuid4()]) == {job_id}
        if settle == "retry":
            queue.retry_later(claim, "boom", 0)
        else:
            queue.finish([Outcome(claim, JobStatus.FAILED, None, "boom")])
        assert job(db, job_id)["status"] == "cancelled"
        assert [e[2] for e in events(db, job_id)] == [
            "submitted",
            "started",
            "cancel_requested",
            "cancelled",
        ]
        # A finished job is left as it is.
        assert db.execute("select cancel_job(%s)", (job_id,)).fetchone() == ("cancelled",)
        db.execute("select pgmq.purge_queue('work_queue')")


def test_retry_runs_a_failed_job_again_as_a_new_run_and_keeps_its_history(
    db: psycopg.Connection,
) -> None:
    queue = PgWorkQueue(db.info.dsn)
    job_id = submit(db)
    [claim] = queue.claim(HOLDER, 10, 30).started
    queue.finish([Outcome(claim, JobStatus.FAILED, None, "boom")])
    old_msg = job(db, job_id)["msg_id"]
    assert db.execute("select retry_job(%s)", (job_id,)).fetchone() == ("failed",)
    row = job(db, job_id)
    assert (row["status"], row["run"], row["attempts"], row["error"]) == ("pending", 2, 0, None)
    assert row["msg_id"] != old_msg
    [again] = queue.claim(HOLDER, 10, 30).started
    assert (again.attempt, again.message.msg_id) == (1, row["msg_id"])
    queue.finish([Outcome(again, JobStatus.COMPLETED, "ok", None)])
    assert events(db, job_id) == [
        (1, 0, "submitted", "pending"),
        (1, 1, "started", "running"),
        (1, 1, "failed", "failed"),
        (2, 0, "retried", "pending"),
        (2, 1, "started", "running"),
        (2, 1, "completed", "completed"),
    ]
    # Neither a completed nor a pending job is retried.
    assert db.execute("select retry_job(%s)", (job_id,)).fetchone() == ("completed",)
    pending = submit(db)
    assert db.execute("select retry_job(%s)", (pending,)).fetchone() == ("pending",)
    assert job(db, pending)["run"] == 1


def test_a_stale_message_never_starts_a_retried_run(db: psycopg.Connection) -> None:
    """A job cancelled on its way to a retry keeps its message queued; after retry_job that
    old message must not start the new run (only the job's current message does)."""
    queue = PgWorkQueue(db.info.dsn)
    job_id = submit(db)
    [claim] = queue.claim(HOLDER, 10, 30).started
    db.execute("select cancel_job(%s)", (job_id,))
    queue.retry_later(claim, "boom", 0)  # -> cancelled; the message stays, visible at once
    db.execute("select retry_job(%s)", (job_id,))
    batch = queue.claim(HOLDER, 10, 30)
    assert [c.message.msg_id for c in batch.started] == [job(db, job_id)["msg_id"]]
    assert batch.skipped == 0


def test_progress_is_written_only_for_the_attempt_that_owns_the_job(
    db: psycopg.Connection,
) -> None:
    queue = PgWorkQueue(db.info.dsn)
    job_id = submit(db)
    [claim] = queue.claim(HOLDER, 10, 30).started
    queue.report_progress([ProgressReport(job_id, claim.attempt + 1, 9, 10, "stale")])
    assert job(db, job_id)["progress"] is None
    queue.report_progress([ProgressReport(job_id, claim.attempt, 3, 10, "three")])
    row = job(db, job_id)
    assert (row["progress"], row["progress_total"], row["progress_message"]) == (3, 10, "three")


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_clients_read_events_but_write_nothing(db: psycopg.Connection, role: str) -> None:
    # anon reads a public demo job's events, a signed-in user their own job's (the events are
    # readable as their job is: 20261201004200_owned_job_events.sql).
    with db.transaction(force_rollback=True):
        if role == "authenticated":
            claims = json.dumps({"sub": str(uuid.uuid4()), "role": role})
            db.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        job_id = submit(db)
        db.execute(f"set local role {role}")
        assert len(events(db, job_id)) == 1
        for statement in (
            "insert into job_events (job_id, run, attempt, event, status) "
            "values (%s, 1, 0, 'submitted', 'pending')",
            "select cancel_job(%s)",
            "select retry_job(%s)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
                db.execute(statement, (job_id,))


def test_a_running_simulate_reports_progress_and_stops_when_cancelled(
    embedded_db_url: str,
) -> None:
    """The worker against Postgres: progress reaches the row while simulate runs, and a cancel
    request reaches the task through the heartbeat; the job ends cancelled, once."""
    store = PgJobStore(embedded_db_url)
    queue = PgWorkQueue(embedded_db_url)
    job_id = store.submit(NewJob("long", {"seconds": 8}, kind="simulate"))
    worker = Worker(
        queue,
        registry,
        RetryPolicy(max_attempts=3, base_delay_s=0),
        WorkerSettings(batch_size=2, visibility_s=30, retry_wait_s=0),
    )
    drained = threading.Thread(target=lambda: worker.drain(worker.clock.monotonic() + 60))
    drained.start()
    try:
        wait_for(
            lambda: (j := store.get(job_id)) is not None and (j.progress or 0) > 0,
            timeout=10,
            what="progress on the row",
        )
        assert store.cancel(job_id) == JobStatus.RUNNING
        wait_for(
            lambda: (j := store.get(job_id)) is not None and j.status.is_terminal,
            timeout=10,
            what="the job to end",
        )
        finished = store.get(job_id)
        assert finished is not None
        assert finished.status == JobStatus.CANCELLED
        assert finished.progress is not None and finished.progress < 8
    finally:
        drained.join(30)
    assert not drained.is_alive()
    names = [e.event for e in store.events(job_id)]
    assert names == ["submitted", "started", "cancel_requested", "cancelled"]

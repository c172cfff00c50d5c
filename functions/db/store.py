"""Postgres implementations of the core's JobStore and WorkQueue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from functions.config import Database
from functions.core.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidInput,
    JobSystemError,
    NameTaken,
    Unavailable,
)
from functions.core.flow import JobFlow
from functions.core.models import (
    Caller,
    Claim,
    ClaimedBatch,
    Job,
    JobEvent,
    JobStatus,
    NewBatch,
    NewJob,
    NewSchedule,
    Outcome,
    ProgressReport,
    QueueMessage,
    TaskKind,
)
from functions.db import queries
from functions.db.connections import as_database, connect, connection

# What submit_job raises for the caller, by SQLSTATE (SJ4xx are ours; see the migrations).
SUBMIT_ERRORS: dict[str, type[JobSystemError]] = {
    "22023": InvalidInput,
    "23505": NameTaken,
    "SJ409": IdempotencyKeyInFlight,
    "SJ422": IdempotencyKeyReused,
}


def _job(row: dict[str, Any]) -> Job:
    return Job(**{**row, "status": JobStatus(row["status"])})


def _item(job: NewJob) -> dict[str, Any]:
    """A batch item as submit_jobs takes it; a start time goes along so that it refuses it."""
    item: dict[str, Any] = {"task_name": job.task_name, "payload": job.payload}
    if job.kind is not None:
        item["kind"] = job.kind
    if job.run_at is not None:
        item["run_at"] = job.run_at.isoformat()
    if job.delay_s is not None:
        item["delay_seconds"] = job.delay_s
    return item


def _context(owner: Caller | None, traceparent: str | None = None) -> dict[str, str]:
    """queries.TRANSACTION_CONTEXT's values: '' for what is not given."""
    return {
        "claims": owner.claims_json if owner else "",
        "sub": str(owner.user_id) if owner else "",
        "traceparent": traceparent or "",
    }


class PgJobStore:
    def __init__(self, database: Database | str) -> None:
        self._database = as_database(database)

    def _submit(
        self,
        query: str,
        params: dict[str, Any],
        owner: Caller | None,
        whole_row: bool = False,
        traceparent: str | None = None,
    ) -> Any:
        """The one value ``query`` answers, as ``owner`` when given (so auth.uid(), the owner
        column's default, names them) and with the jobs it makes joining ``traceparent``;
        submit_job's errors as the caller's."""
        try:
            with connection(self._database) as conn:
                if owner is None and traceparent is None:
                    row = conn.execute(query, params).fetchone()
                else:
                    # The context holds for this transaction only (pooler-safe).
                    with conn.transaction():
                        conn.execute(queries.TRANSACTION_CONTEXT, _context(owner, traceparent))
                        row = conn.execute(query, params).fetchone()
        except psycopg.Error as exc:
            error = SUBMIT_ERRORS.get(exc.sqlstate or "")
            message = exc.diag.message_primary
            if error is not None and message:
                # The SQL names the field as a JSON pointer in the error's column.
                field = exc.diag.column_name
                raise error(message, field if field and field.startswith("/") else None) from None
            raise
        assert row is not None
        return row if whole_row else row[0]

    def submit(self, job: NewJob) -> UUID:
        job_id = self._submit(
            queries.SUBMIT_JOB,
            {
                "task_name": job.task_name,
                "payload": Jsonb(job.payload),
                "idempotency_key": job.idempotency_key,
                "run_at": job.run_at,
                "delay_seconds": job.delay_s,
                "kind": job.kind,
            },
            job.owner,
            traceparent=job.traceparent,
        )
        return UUID(str(job_id))

    def submit_flow(self, job: NewJob) -> tuple[UUID, bool]:
        """A job with flow settings of its own (``job.flow``): its id, and whether it is an
        unfinished job with the same dedup key (nothing new was written)."""
        flow = job.flow or JobFlow()
        row = self._submit(
            queries.SUBMIT_JOB_FLOW,
            {
                "task_name": job.task_name,
                "payload": Jsonb(job.payload),
                "idempotency_key": job.idempotency_key,
                "run_at": job.run_at,
                "delay_seconds": job.delay_s,
                "kind": job.kind,
                "priority": flow.priority,
                "concurrency_key": flow.concurrency_key,
                "concurrency_limit": flow.concurrency_limit,
                "dedup_key": flow.dedup_key,
                "debounce_seconds": flow.debounce_s,
            },
            job.owner,
            traceparent=job.traceparent,
            whole_row=True,
        )
        return UUID(str(row[0])), bool(row[1])

    def create_schedule(self, schedule: NewSchedule) -> UUID:
        params = {
            "name": schedule.name,
            "cron": schedule.cron,
            "task_name": schedule.task_name,
            "kind": schedule.kind,
            "payload": Jsonb(schedule.payload),
        }
        return UUID(str(self._submit(queries.CREATE_SCHEDULE, params, schedule.owner)))

    def list_schedules(self, owner: Caller | None) -> list[dict[str, Any]]:
        with (
            connection(self._database) as conn,
            conn.cursor(row_factory=dict_row) as cur,
            conn.transaction(),
        ):
            if owner is not None:
                cur.execute(queries.TRANSACTION_CONTEXT, _context(owner))
            rows = cur.execute(queries.LIST_SCHEDULES).fetchall()
        return [_schedule(row) for row in rows]

    def pause_schedule(self, schedule_id: UUID, paused: bool, owner: Caller | None) -> bool:
        params = {"schedule_id": schedule_id, "paused": paused}
        return bool(self._submit(queries.PAUSE_SCHEDULE, params, owner))

    def delete_schedule(self, schedule_id: UUID, owner: Caller | None) -> bool:
        return bool(self._submit(queries.DELETE_SCHEDULE, {"schedule_id": schedule_id}, owner))

    def wait_reason(self, job_id: UUID, owner: UUID | None = None) -> dict[str, Any] | None:
        """Why the job has not started (``public.job_wait_reason``); None when it is not waiting."""
        with connection(self._database) as conn:
            params = {"job_id": job_id, "owner": owner}
            row = conn.execute(queries.JOB_WAIT_REASON, params).fetchone()
        return row[0] if row else None

    def submit_many(self, batch: NewBatch) -> list[UUID]:
        items = [_item(job) for job in batch.jobs]
        job_ids = self._submit(
            queries.SUBMIT_JOBS,
            {"items": Jsonb(items), "idempotency_key": batch.idempotency_key},
            batch.owner,
            traceparent=batch.traceparent,
        )
        return [UUID(str(job_id)) for job_id in job_ids]

    def get(self, job_id: UUID, owner: UUID | None = None) -> Job | None:
        query = queries.GET_PUBLIC_JOB if owner is None else queries.GET_OWN_JOB
        with connection(self._database) as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(query, {"job_id": job_id, "owner": owner}).fetchone()
        return _job(row) if row else None

    def newest(
        self, limit: int, status: JobStatus | None = None, owner: UUID | None = None
    ) -> list[Job]:
        query = queries.NEWEST_PUBLIC_JOBS if owner is None else queries.NEWEST_OWN_JOBS
        params = {"limit": limit, "owner": owner, "status": status.value if status else None}
        with connection(self._database) as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, params).fetchall()
        return [_job(row) for row in rows]

    def events(self, job_id: UUID, owner: UUID | None = None) -> list[JobEvent]:
        with connection(self._database) as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(queries.JOB_EVENTS, {"job_id": job_id, "owner": owner}).fetchall()
        return [JobEvent(**row) for row in rows]

    def cancel(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        return self._steer(queries.CANCEL_JOB, job_id, owner)

    def retry(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        return self._steer(queries.RETRY_JOB, job_id, owner)

    def _steer(self, statement: str, job_id: UUID, owner: UUID | None) -> JobStatus | None:
        with connection(self._database) as conn:
            row = conn.execute(statement, {"job_id": job_id, "owner": owner}).fetchone()
        return JobStatus(row[0]) if row and row[0] is not None else None


def _schedule(row: dict[str, Any]) -> dict[str, Any]:
    """A schedule as the API shows it: ids as text, times in ISO 8601."""
    return {
        name: (
            value.isoformat()
            if hasattr(value, "isoformat")
            else str(value)
            if isinstance(value, UUID)
            else value
        )
        for name, value in row.items()
    }


def _kind(row: dict[str, Any]) -> TaskKind:
    return TaskKind(
        kind=row["kind"],
        description=row["description"],
        payload_schema=row["payload_schema"],
        time_limit_s=float(row["time_limit_s"]),
        flow=row.get("flow") or {},
    )


class PgKindCatalog:
    """public.task_kinds, read at most every ``ttl_s`` seconds per process: a kind a new
    worker publishes is accepted by submit within that time."""

    def __init__(self, database: Database | str, ttl_s: float = 5.0) -> None:
        self._database = as_database(database)
        self._ttl_s = ttl_s
        self._cached: tuple[float, dict[str, TaskKind]] | None = None
        self._lock = threading.Lock()

    def kinds(self) -> dict[str, TaskKind]:
        with self._lock:
            cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        with connection(self._database) as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(queries.LIST_KINDS).fetchall()
        kinds = {row["kind"]: _kind(row) for row in rows}
        with self._lock:
            self._cached = (time.monotonic(), kinds)
        return kinds

    def publish(self, kinds: Sequence[TaskKind]) -> None:
        # Once per cold start, from the worker: a connection of its own, closed at once, rather
        # than a pool kept open beside the worker's connection for nothing.
        document = Jsonb([kind.to_json() for kind in kinds])
        try:
            with connect(self._database, "supajobs-publish-kinds") as conn:
                conn.execute(queries.PUBLISH_KINDS, {"kinds": document})
        except psycopg.OperationalError:
            raise Unavailable("the database connection failed; try again shortly") from None
        with self._lock:
            self._cached = None


def _message(msg_id: int, read_count: int, job_id: Any) -> QueueMessage:
    return QueueMessage(msg_id=msg_id, job_id=UUID(str(job_id)), read_count=read_count)


# How often a waiting claim looks at the queue again: a warm worker's dispatch latency is about
# half of it, and each look costs the database one empty pgmq.read (tens of microseconds).
POLL_MS = 1
# The pauses before a state change that lost a lock race or its connection is tried again:
# about 6 s in all, what a database restart takes.
TRANSITION_PAUSES_S = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


class PgWorkQueue:
    """The worker's queue. Each thread keeps one connection of its own (no pool checkout, no
    liveness probe per statement); a broken one is dropped and the failure surfaces as
    Unavailable, so the next invocation starts on a fresh connection."""

    def __init__(self, database: Database | str) -> None:
        self._database = as_database(database)
        self._local = threading.local()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        conn: psycopg.Connection | None = getattr(self._local, "conn", None)
        try:
            if conn is None or conn.closed:
                conn = connect(self._database, "supajobs-process-job")
                self._local.conn = conn
            yield conn
        except psycopg.errors.TransactionRollback:
            raise  # a lost lock race, not a broken connection: the caller may try again
        except psycopg.OperationalError:
            if conn is not None:
                conn.close()
            self._local.conn = None
            raise Unavailable("the database connection failed; try again shortly") from None

    def claim(
        self,
        holder: str,
        batch_size: int,
        visibility_s: int,
        wait_s: float = 0.0,
        scale: bool = True,
    ) -> ClaimedBatch:
        with self._conn() as conn:
            rows = conn.execute(
                queries.CLAIM_JOBS,
                {
                    "holder": holder,
                    "batch_size": batch_size,
                    "visibility_s": visibility_s,
                    "wait_ms": round(wait_s * 1000),
                    "poll_ms": POLL_MS,
                    "scale": scale,
                },
            ).fetchall()
        started: list[Claim] = []
        suspects: list[QueueMessage] = []
        skipped = 0
        for msg_id, read_ct, delivery, job_id, kind, task_name, payload, attempt in rows:
            message = _message(msg_id, read_ct, job_id)
            if delivery == "started":
                started.append(Claim(message, task_name, payload, attempt, kind))
            elif delivery == "redelivered":
                suspects.append(message)
            else:
                skipped += 1
        return ClaimedBatch(started=started, suspects=suspects, skipped=skipped)

    def hold(self, holder: str, lease_s: float) -> None:
        with self._conn() as conn:
            conn.execute(queries.HOLD_WORK_QUEUE, {"holder": holder, "lease_s": lease_s})

    def leave(self, holder: str, lease_s: float, stay: bool) -> bool:
        with self._conn() as conn:
            row = conn.execute(
                queries.LEAVE_WORK_QUEUE, {"holder": holder, "lease_s": lease_s, "stay": stay}
            ).fetchone()
        return bool(row and row[0])

    def take_wake_up(self, wake_id: str, lease_s: float) -> bool:
        with self._conn() as conn:
            row = conn.execute(
                queries.TAKE_WAKE_UP, {"wake_id": wake_id, "lease_s": lease_s}
            ).fetchone()
        return bool(row and row[0])

    def start(self, holder: str, message: QueueMessage) -> Claim | None:
        with self._conn() as conn:
            row = conn.execute(
                queries.START_ATTEMPT,
                {"holder": holder, "msg_id": message.msg_id, "job_id": message.job_id},
            ).fetchone()
        if row is None:
            return None
        kind, task_name, payload, attempt = row
        return Claim(message, task_name, payload, attempt, kind)

    def finish(self, outcomes: Sequence[Outcome]) -> set[int]:
        if not outcomes:
            return set()
        params = {
            "job_ids": [o.claim.message.job_id for o in outcomes],
            "attempts": [o.claim.attempt for o in outcomes],
            "statuses": [o.status.value for o in outcomes],
            "results": [o.result for o in outcomes],
            "errors": [o.error for o in outcomes],
            "msg_ids": [o.claim.message.msg_id for o in outcomes],
        }
        rows = self._transition(queries.FINISH_ATTEMPTS, params).fetchall()
        return {row[0] for row in rows}

    def _transition(self, statement: str, params: dict[str, Any]) -> psycopg.Cursor[Any]:
        """Run one state change, again when it lost a lock race or its connection: the task
        has run by now, and neither a deadlock nor a database restart may turn its outcome into
        a 503 and a second run. The lock order (docs/architecture.md) makes a lost race rare;
        every transition is conditional on the attempt still owning its job, so running one
        again after a connection died mid-commit records nothing twice."""
        pauses = iter(TRANSITION_PAUSES_S)
        while True:
            try:
                with self._conn() as conn:
                    return conn.execute(statement, params)
            except (psycopg.errors.TransactionRollback, Unavailable):
                pause = next(pauses, None)
                if pause is None:
                    raise
                time.sleep(pause)

    def retry_later(self, claim: Claim, error: str, delay_s: float) -> bool:
        row = self._transition(
            queries.RETRY_ATTEMPT,
            {
                "job_id": claim.message.job_id,
                "attempt": claim.attempt,
                "msg_id": claim.message.msg_id,
                "error": error,
                "delay_s": max(0.0, delay_s),
            },
        ).fetchone()
        return bool(row and row[0])

    def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> set[int]:
        messages = [c.message for c in claims] + list(unstarted)
        if not messages:
            return set()
        attempts: list[int | None] = [c.attempt for c in claims]
        rows = self._transition(
            queries.HAND_BACK,
            {
                "msg_ids": [m.msg_id for m in messages],
                "read_counts": [m.read_count for m in messages],
                "job_ids": [m.job_id for m in messages],
                "attempts": attempts + [None] * len(unstarted),
            },
        ).fetchall()
        return {row[0] for row in rows}

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        with self._conn() as conn:
            conn.execute(
                queries.EXTEND_VISIBILITY, {"msg_ids": list(msg_ids), "visibility_s": visibility_s}
            )

    def report_progress(self, reports: Sequence[ProgressReport]) -> None:
        if not reports:
            return
        with self._conn() as conn:
            conn.execute(
                queries.REPORT_PROGRESS,
                {
                    "job_ids": [r.job_id for r in reports],
                    "attempts": [r.attempt for r in reports],
                    "dones": [r.done for r in reports],
                    "totals": [r.total for r in reports],
                    "messages": [r.message for r in reports],
                },
            )

    def cancel_requested(self, job_ids: Sequence[UUID]) -> set[UUID]:
        if not job_ids:
            return set()
        with self._conn() as conn:
            rows = conn.execute(queries.CANCEL_REQUESTED, {"job_ids": list(job_ids)}).fetchall()
        return {UUID(str(row[0])) for row in rows}

    def traceparents(self, job_ids: Sequence[UUID]) -> dict[UUID, str]:
        """The stored trace contexts of ``job_ids`` (those that have one); tracing only."""
        if not job_ids:
            return {}
        with self._conn() as conn:
            rows = conn.execute(queries.JOB_TRACEPARENTS, {"job_ids": list(job_ids)}).fetchall()
        return {UUID(str(job_id)): traceparent for job_id, traceparent in rows}

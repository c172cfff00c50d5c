"""Postgres implementations of the core's JobStore and WorkQueue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from functions.core.errors import InvalidInput
from functions.core.models import Claim, Job, JobStatus, NewJob, QueueMessage
from functions.db import queries
from functions.db.connections import connection

INVALID_PARAMETER_VALUE = "22023"


def _job(row: dict[str, Any]) -> Job:
    return Job(**{**row, "status": JobStatus(row["status"])})


class PgJobStore:
    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def submit(self, job: NewJob) -> UUID:
        try:
            with connection(self._url) as conn:
                row = conn.execute(
                    queries.SUBMIT_JOB,
                    {
                        "task_name": job.task_name,
                        "payload": Jsonb(job.payload),
                        "idempotency_key": job.idempotency_key,
                    },
                ).fetchone()
        except psycopg.Error as exc:
            if exc.sqlstate == INVALID_PARAMETER_VALUE and exc.diag.message_primary:
                raise InvalidInput(exc.diag.message_primary) from None
            raise
        assert row is not None
        return UUID(str(row[0]))

    def get(self, job_id: UUID) -> Job | None:
        with connection(self._url) as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(queries.GET_JOB, {"job_id": job_id}).fetchone()
        return _job(row) if row else None

    def newest(self, limit: int) -> list[Job]:
        with connection(self._url) as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(queries.NEWEST_JOBS, {"limit": limit}).fetchall()
        return [_job(row) for row in rows]


def _message(msg_id: int, read_count: int, body: dict[str, Any]) -> QueueMessage:
    return QueueMessage(
        msg_id=msg_id,
        job_id=UUID(str(body["job_id"])),
        task_name=str(body.get("task_name", "")),
        read_count=read_count,
    )


class PgWorkQueue:
    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def claim(self, batch_size: int, visibility_s: int) -> list[QueueMessage]:
        with connection(self._url) as conn:
            rows = conn.execute(
                queries.CLAIM_MESSAGES,
                {"queue": queries.QUEUE, "visibility_s": visibility_s, "batch_size": batch_size},
            ).fetchall()
        return [_message(msg_id, read_ct, body) for msg_id, read_ct, body in rows]

    def start(self, message: QueueMessage) -> Claim | None:
        with connection(self._url) as conn, conn.transaction():
            row = conn.execute(queries.START_ATTEMPT, {"job_id": message.job_id}).fetchone()
            if row is None:
                conn.execute(
                    queries.ARCHIVE_MESSAGE, {"queue": queries.QUEUE, "msg_id": message.msg_id}
                )
                return None
        task_name, payload, attempt = row
        return Claim(message=message, task_name=task_name, payload=payload, attempt=attempt)

    def _finish(
        self, claim: Claim, status: JobStatus, result: str | None, error: str | None
    ) -> bool:
        with connection(self._url) as conn, conn.transaction():
            updated = conn.execute(
                queries.FINISH_ATTEMPT,
                {
                    "status": status.value,
                    "result": result,
                    "error": error,
                    "job_id": claim.message.job_id,
                    "attempt": claim.attempt,
                },
            ).rowcount
            if updated:
                conn.execute(
                    queries.ARCHIVE_MESSAGE,
                    {"queue": queries.QUEUE, "msg_id": claim.message.msg_id},
                )
        return bool(updated)

    def complete(self, claim: Claim, result: str) -> bool:
        return self._finish(claim, JobStatus.COMPLETED, result, None)

    def fail(self, claim: Claim, error: str) -> bool:
        return self._finish(claim, JobStatus.FAILED, None, error)

    def retry_later(self, claim: Claim, error: str, delay_s: float) -> bool:
        with connection(self._url) as conn, conn.transaction():
            updated = conn.execute(
                queries.RETRY_ATTEMPT,
                {"error": error, "job_id": claim.message.job_id, "attempt": claim.attempt},
            ).rowcount
            if updated:
                conn.execute(
                    queries.SET_VISIBILITY,
                    {
                        "queue": queries.QUEUE,
                        "msg_id": claim.message.msg_id,
                        "delay_s": max(0, round(delay_s)),
                    },
                )
        return bool(updated)

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        with connection(self._url) as conn:
            conn.execute(
                queries.EXTEND_VISIBILITY, {"msg_ids": list(msg_ids), "visibility_s": visibility_s}
            )

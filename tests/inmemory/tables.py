"""The twin's rows: job_results, work_queue messages, idempotency keys, and submit_jobs' items."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from functions.core.models import Job, JobStatus


@dataclass
class JobRow:
    """A row of job_results, plus counts of writes that tests look at."""

    job_id: UUID
    task_name: str
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    owner_id: UUID | None = None
    result: str | None = None
    error: str | None = None
    attempts: int = 0
    msg_id: int = 0  # the job's current message; a retry sends a new one
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: float | None = None
    progress_total: float | None = None
    progress_message: str | None = None
    run_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    run: int = 1
    claimed_by: str | None = None  # the lease holder running the current attempt
    writes: int = 0  # outcomes recorded (finish_attempts): at most one per run
    progress_writes: int = 0

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_requested_at is not None

    def job(self) -> Job:
        """The row as the API's queries return it."""
        return Job(
            job_id=self.job_id,
            task_name=self.task_name,
            kind=self.kind,
            payload=dict(self.payload),
            status=self.status,
            result=self.result,
            error=self.error,
            attempts=self.attempts,
            msg_id=self.msg_id,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            updated_at=self.updated_at,
            owner_id=self.owner_id,
            progress=self.progress,
            progress_total=self.progress_total,
            progress_message=self.progress_message,
            run_at=self.run_at,
            cancel_requested_at=self.cancel_requested_at,
            run=self.run,
        )


@dataclass
class Message:
    """A message of work_queue (or of its archive); ``visible_at`` is on the database's clock.
    It carries the ids, and the job's row the rest."""

    msg_id: int
    job_id: UUID
    visible_at: float
    read_count: int = 0

    def body(self) -> dict[str, Any]:
        """The wake-up the queue trigger sends for it."""
        return {"msg_id": self.msg_id, "job_id": str(self.job_id)}


@dataclass(frozen=True)
class IdempotencyKey:
    fingerprint: str
    job_ids: tuple[UUID, ...]
    expires_at: float


@dataclass(frozen=True)
class Item:
    """One job as submit_jobs takes it (an item of its ``items``)."""

    task_name: Any
    payload: Any = None
    kind: str | None = None


def digest(request: Any) -> str:
    """SHA-256 of a request in a canonical form (sorted keys, no spacing): its fingerprint."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

"""The job system's data: plain values, no behaviour that touches I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from functions.core.flow import JobFlow


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

    @property
    def retryable(self) -> bool:
        """A person may run it again (``POST /jobs/<id>/retry``)."""
        return self in (JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class Job:
    """A row of job_results: ``task_name`` is a free label shown to people, ``kind`` the task
    that runs."""

    job_id: UUID
    task_name: str
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    result: str | None
    error: str | None
    attempts: int
    msg_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    owner_id: UUID | None = None
    progress: float | None = None
    progress_total: float | None = None
    progress_message: str | None = None
    run_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    run: int = 1
    # Flow control (core.flow): what the submitter asked for, and the concurrency key the job
    # counts against.
    priority: int | None = None
    concurrency_key: str | None = None
    dedup_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": str(self.job_id),
            "task_name": self.task_name,
            "kind": self.kind,
            "payload": self.payload,
            "status": self.status.value,
            "result": self.result,
            "error": self.error,
            "attempts": self.attempts,
            "msg_id": self.msg_id,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "updated_at": iso(self.updated_at),
            "owner_id": str(self.owner_id) if self.owner_id else None,
            "progress": self.progress,
            "progress_total": self.progress_total,
            "progress_message": self.progress_message,
            "run_at": iso(self.run_at),
            "cancel_requested_at": iso(self.cancel_requested_at),
            "run": self.run,
            "priority": self.priority,
            "concurrency_key": self.concurrency_key,
            "dedup_key": self.dedup_key,
        }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class JobEvent:
    """One line of a job's history (public.job_events)."""

    run: int
    attempt: int
    event: str
    status: str
    detail: str | None
    at: datetime
    # Its place in job_events (what Broadcast messages carry too, so a watcher that has both
    # takes each event once).
    event_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "run": self.run,
            "attempt": self.attempt,
            "event": self.event,
            "status": self.status,
            "detail": self.detail,
            "at": iso(self.at),
        }


@dataclass(frozen=True)
class ProgressReport:
    """A task's latest progress, as the heartbeat writes it for one attempt."""

    job_id: UUID
    attempt: int
    done: float
    total: float | None
    message: str | None


@dataclass(frozen=True)
class TaskKind:
    """A kind of task as workers publish it: the payload it takes and how long it may run."""

    kind: str
    description: str
    payload_schema: dict[str, Any]
    time_limit_s: float
    # Its flow control as task_kinds.flow holds it (core.flow.FlowSettings.to_json): {} for none.
    flow: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description": self.description,
            "payload_schema": self.payload_schema,
            "time_limit_s": self.time_limit_s,
            "flow": self.flow,
        }


@dataclass(frozen=True)
class Caller:
    """A signed-in user, from a verified access token; their claims go to
    ``request.jwt.claims`` so ``auth.uid()`` names them in the database."""

    user_id: UUID
    claims_json: str


@dataclass(frozen=True)
class NewJob:
    """A validated submission; ``owner`` is None in the public demo mode, ``kind`` None until
    the API has put in the default kind (``core.tasks.DEFAULT_KIND``)."""

    task_name: str
    payload: dict[str, Any]
    idempotency_key: str | None = None
    owner: Caller | None = None
    run_at: datetime | None = None
    delay_s: float | None = None
    kind: str | None = None
    # Priority, concurrency key and dedup key asked for this job (None: none asked).
    flow: JobFlow | None = None
    traceparent: str | None = None  # the trace the job joins (functions/tracing.py)


@dataclass(frozen=True)
class NewSchedule:
    """A validated schedule: the job each due time of ``cron`` (five fields, UTC) submits."""

    name: str
    cron: str
    task_name: str
    payload: dict[str, Any]
    kind: str | None = None
    owner: Caller | None = None


@dataclass(frozen=True)
class NewBatch:
    """Validated jobs submitted together: stored all or none, under one Idempotency-Key, all
    owned by ``owner`` (None: public demo jobs)."""

    jobs: tuple[NewJob, ...]
    idempotency_key: str | None = None
    owner: Caller | None = None
    traceparent: str | None = None


@dataclass(frozen=True)
class QueueMessage:
    """A message claimed from work_queue; ``read_count`` counts deliveries, this one included.
    The job's row holds the rest (its kind, label and payload come with the claim)."""

    msg_id: int
    job_id: UUID
    read_count: int


@dataclass(frozen=True)
class Claim:
    """A job the worker has marked running for this attempt; ``kind`` is the task to run."""

    message: QueueMessage
    task_name: str
    payload: dict[str, Any]
    attempt: int
    kind: str


@dataclass(frozen=True)
class WakeUp:
    """The body the database's wake-up call carries: the id the woken worker takes as its
    lease, honoured once."""

    wake_id: str
    # The delivery span's context, carried to process_job in the invoke's message.
    traceparent: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.traceparent is None:
            return {"wake_id": self.wake_id}
        return {"wake_id": self.wake_id, "traceparent": self.traceparent}


@dataclass(frozen=True)
class ClaimedBatch:
    """One claim's worth of messages.

    ``started``: first deliveries, already marked running (claimed and started in one step).
    ``suspects``: redeliveries, not yet started: the worker starts and runs them one by one.
    ``skipped``: messages whose job had already finished; they were archived.
    """

    started: list[Claim]
    suspects: list[QueueMessage]
    skipped: int = 0


class Failure(enum.Enum):
    """Why an attempt ended without a result; the retry rule (``core.retry``) decides what next."""

    RAISED = "raised"  # the task raised: another attempt may succeed
    TIMED_OUT = "timed_out"  # the task ran past its own time limit
    PERMANENT = "permanent"  # another attempt cannot help (an unknown task, attempts used up)
    INTERRUPTED = "interrupted"  # stopped at the invocation's deadline, before its own limit


@dataclass
class DrainReport:
    """What one drain did, by how each message it handled ended."""

    completed: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    handed_back: int = 0
    cancelled: int = 0

    @property
    def handled(self) -> int:
        return (
            self.completed
            + self.failed
            + self.retried
            + self.skipped
            + self.handed_back
            + self.cancelled
        )

    def to_json(self) -> dict[str, int]:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
            "handed_back": self.handed_back,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended; ``failure`` says why when it produced no result."""

    claim: Claim
    status: JobStatus
    result: str | None
    error: str | None
    failure: Failure | None = None

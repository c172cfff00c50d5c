"""The core's ports over one InMemoryDatabase: each method one call of the SQL function the
Postgres adapter (``functions/db/store.py``) runs for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from functions.core.errors import InvalidInput, Unavailable
from functions.core.models import (
    Claim,
    ClaimedBatch,
    Job,
    JobEvent,
    JobStatus,
    NewBatch,
    NewJob,
    Outcome,
    ProgressReport,
    QueueMessage,
    TaskKind,
)
from functions.core.ports import Clock
from tests.inmemory.database import InMemoryDatabase
from tests.inmemory.tables import IdempotencyKey, Item, JobRow, Message

DEFAULT_TASK_TIMEOUT_S = 600.0  # TASK_TIMEOUT_SECONDS' default


class MemoryJobStore:
    """The submit function's JobStore; a database of its own unless given one."""

    def __init__(self, db: InMemoryDatabase | None = None) -> None:
        self.db = db if db is not None else InMemoryDatabase()
        self._dedup: dict[tuple[UUID | None, str], UUID] = {}

    # What the API unit tests look at, straight from the database.
    @property
    def jobs(self) -> dict[UUID, JobRow]:
        return self.db.jobs

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m.body() for m in sorted(self.db.queue.values(), key=lambda m: m.msg_id)]

    @property
    def keys(self) -> dict[str, IdempotencyKey]:
        return self.db.keys

    @property
    def in_flight(self) -> set[str]:
        return self.db.in_flight

    @property
    def unavailable(self) -> bool:
        return self.db.unavailable

    @unavailable.setter
    def unavailable(self, down: bool) -> None:
        self.db.unavailable = down

    def _check_up(self) -> None:
        if self.db.unavailable:
            raise Unavailable("the database is not reachable right now; try again shortly")

    def submit(self, job: NewJob) -> UUID:
        self._check_up()
        return self.db.submit_job(
            job.task_name,
            job.payload,
            job.idempotency_key,
            job.run_at,
            job.delay_s,
            job.kind,
            job.owner.user_id if job.owner else None,
        )

    def submit_flow(self, job: NewJob) -> tuple[UUID, bool]:
        """Dedup as submit_job_flow answers it; the limits themselves are the database's
        (tests/sql), which this stand-in does not enforce."""
        self._check_up()
        owner = job.owner.user_id if job.owner else None
        key = job.flow.dedup_key if job.flow else None
        if key is not None:
            earlier = self._dedup.get((owner, key))
            row = self.db.jobs.get(earlier) if earlier else None
            if earlier is not None and row is not None and not _finished(row):
                return earlier, True
        job_id = self.submit(job)
        if key is not None:
            self._dedup[(owner, key)] = job_id
        return job_id, False

    def wait_reason(self, job_id: UUID, owner: UUID | None = None) -> dict[str, Any] | None:
        self._check_up()
        return None

    def submit_many(self, batch: NewBatch) -> list[UUID]:
        self._check_up()
        for index, job in enumerate(batch.jobs):
            # submit_jobs refuses an item with a start time, as the Postgres store sends it.
            if job.run_at is not None or job.delay_s is not None:
                _refuse_start_time(index)
        items = [Item(j.task_name, j.payload, j.kind) for j in batch.jobs]
        owner = batch.owner.user_id if batch.owner else None
        return self.db.submit_jobs(items, batch.idempotency_key, owner)

    def get(self, job_id: UUID, owner: UUID | None = None) -> Job | None:
        self._check_up()
        return self.db.get_job(job_id, owner)

    def newest(
        self, limit: int, status: JobStatus | None = None, owner: UUID | None = None
    ) -> list[Job]:
        self._check_up()
        return self.db.newest_jobs(limit, status, owner)

    def events(self, job_id: UUID, owner: UUID | None = None) -> list[JobEvent]:
        self._check_up()
        return self.db.job_events(job_id, owner)

    def cancel(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        self._check_up()
        return self.db.cancel_job(job_id, owner)

    def retry(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        self._check_up()
        return self.db.retry_job(job_id, owner)


def _refuse_start_time(index: int) -> None:
    # As submit_jobs says it of an item with run_at or delay_seconds (fields it does not take).
    raise InvalidInput(f"items[{index}] has unknown field(s); a job is {{task_name, payload}}")


class MemoryWorkQueue:
    """The worker's WorkQueue; a database of its own (on ``clock``) unless given one."""

    def __init__(self, db: InMemoryDatabase | None = None, clock: Clock | None = None) -> None:
        if db is None:
            db = InMemoryDatabase() if clock is None else InMemoryDatabase(clock=clock)
        self.db = db

    @property
    def clock(self) -> Clock:
        return self.db.clock

    @property
    def jobs(self) -> dict[UUID, JobRow]:
        return self.db.jobs

    @property
    def queue(self) -> dict[int, Message]:
        return self.db.queue

    @property
    def archive(self) -> dict[int, Message]:
        return self.db.archive

    @property
    def leases(self) -> dict[str, float]:
        return self.db.leases

    @property
    def wakeups(self) -> int:
        """Webhook calls the queue trigger has sent."""
        return len(self.db.wake_ups)

    def submit(
        self,
        task_name: str,
        payload: dict[str, Any] | None = None,
        delay_s: float = 0.0,
        kind: str | None = None,
    ) -> UUID:
        """submit_job; with ``delay_s`` the job is scheduled, its message due then."""
        return self.db.submit_job(task_name, payload, delay_seconds=delay_s or None, kind=kind)

    def request_cancel(self, job_id: UUID) -> JobStatus:
        """cancel_job, as a person asks it; the job's status after the call."""
        self.db.cancel_job(job_id)
        return self.db.jobs[job_id].status

    def request_retry(self, job_id: UUID) -> JobStatus:
        """retry_job, as a person asks it; the job's status before the call."""
        before = self.db.retry_job(job_id)
        assert before is not None
        return before

    def claim(
        self,
        holder: str,
        batch_size: int,
        visibility_s: int,
        wait_s: float = 0.0,
        scale: bool = True,
    ) -> ClaimedBatch:
        return self.db.claim_jobs(holder, batch_size, visibility_s, wait_s, scale)

    def take_wake_up(self, wake_id: str, lease_s: float) -> bool:
        return self.db.take_wake_up(wake_id, lease_s)

    def hold(self, holder: str, lease_s: float) -> None:
        self.db.hold_work_queue(holder, lease_s)

    def leave(self, holder: str, lease_s: float, stay: bool) -> bool:
        return self.db.leave_work_queue(holder, lease_s, stay)

    def start(self, holder: str, message: QueueMessage) -> Claim | None:
        return self.db.start_attempt(holder, message)

    def finish(self, outcomes: Sequence[Outcome]) -> set[int]:
        return self.db.finish_attempts(outcomes)

    def retry_later(self, claim: Claim, error: str, delay_s: float) -> bool:
        return self.db.retry_attempt(claim, error, delay_s)

    def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> set[int]:
        return self.db.hand_back(claims, unstarted)

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        self.db.extend_visibility(msg_ids, visibility_s)

    def report_progress(self, reports: Sequence[ProgressReport]) -> None:
        self.db.report_progress(reports)

    def cancel_requested(self, job_ids: Sequence[UUID]) -> set[UUID]:
        return self.db.cancel_requested(job_ids)


class MemoryKindCatalog:
    """public.task_kinds; ``builtin()`` holds the registry's kinds as the migration seeds them."""

    def __init__(self, db: InMemoryDatabase | None = None) -> None:
        self.db = db if db is not None else InMemoryDatabase()

    @classmethod
    def builtin(cls, db: InMemoryDatabase | None = None) -> MemoryKindCatalog:
        from functions.core.tasks import TaskSettings, registry

        catalog = cls(db)
        catalog.publish(registry.describe(TaskSettings(), DEFAULT_TASK_TIMEOUT_S))
        return catalog

    def kinds(self) -> dict[str, TaskKind]:
        return self.db.list_kinds()

    def publish(self, kinds: Sequence[TaskKind]) -> None:
        self.db.publish_kinds(kinds)


@dataclass
class RecordingInvoker:
    """An Invoker that records each message; ``failure`` makes the next invocations raise it."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    failure: Exception | None = None

    def invoke(self, message: dict[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.calls.append(dict(message))


def _finished(row: JobRow) -> bool:
    return str(row.status) in ("completed", "failed", "cancelled")

"""The seams between the core and the world, as Protocols; adapters live outside core/."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

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


class JobStore(Protocol):
    """What the submit function needs of the database."""

    def submit(self, job: NewJob) -> UUID: ...

    def submit_flow(self, job: NewJob) -> tuple[UUID, bool]:
        """Submit a job with flow settings of its own (``job.flow``): its id, and True when
        it is the owner's unfinished job with the same dedup key (nothing new stored)."""
        ...

    def wait_reason(self, job_id: UUID, owner: UUID | None = None) -> dict[str, Any] | None:
        """Why the job has not started yet ({reason, message, ...}); None when not waiting."""
        ...

    def submit_many(self, batch: NewBatch) -> list[UUID]:
        """Store every job of the batch or none, owned by ``batch.owner``; their ids in the
        batch's order."""
        ...

    def get(self, job_id: UUID, owner: UUID | None = None) -> Job | None:
        """The job, if it belongs to ``owner`` (None: a public demo job)."""
        ...

    def newest(
        self, limit: int, status: JobStatus | None = None, owner: UUID | None = None
    ) -> list[Job]:
        """The newest jobs of ``owner`` (None: the public demo jobs), of one status if given."""
        ...

    def events(self, job_id: UUID, owner: UUID | None = None) -> list[JobEvent]:
        """The job's events, if it belongs to ``owner``; none otherwise."""
        ...

    def cancel(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        """Cancel a job not yet running, or ask its worker to stop a running one (a finished
        job is left as it is); the status it had before, None when ``owner`` has no such job."""
        ...

    def retry(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        """Run a failed or cancelled job again as a new run (any other is left as it is); the
        status it had before, None when ``owner`` has no such job."""
        ...


class ScheduleStore(Protocol):
    """Recurring jobs (private.job_schedules), each call as ``owner`` (None: public demo)."""

    def create_schedule(self, schedule: NewSchedule) -> UUID: ...

    def list_schedules(self, owner: Caller | None) -> list[dict[str, Any]]: ...

    def pause_schedule(self, schedule_id: UUID, paused: bool, owner: Caller | None) -> bool:
        """False when ``owner`` has no such schedule."""
        ...

    def delete_schedule(self, schedule_id: UUID, owner: Caller | None) -> bool:
        """False when ``owner`` has no such schedule."""
        ...


class KindCatalog(Protocol):
    """The kinds of task workers have published (public.task_kinds)."""

    def kinds(self) -> dict[str, TaskKind]: ...

    def publish(self, kinds: Sequence[TaskKind]) -> None:
        """Add or update these kinds; kinds not given stay (another worker version may run
        them)."""
        ...


class WorkQueue(Protocol):
    """What the worker needs of the database: claims and state changes, each atomic."""

    def claim(
        self,
        holder: str,
        batch_size: int,
        visibility_s: int,
        wait_s: float = 0.0,
        scale: bool = True,
    ) -> ClaimedBatch:
        """For lease ``holder``: messages now invisible to other workers for ``visibility_s``
        seconds; the first deliveries among them are marked running at once, those whose job
        has finished are archived (``skipped``). With ``wait_s``, waits up to that long for a
        message to be visible (a warm worker's fast path). With ``scale``, work left visible
        behind the claim wakes more workers, up to the ceiling."""
        ...

    def hold(self, holder: str, lease_s: float) -> None:
        """Take or renew ``holder``'s lease for ``lease_s`` seconds: while any lease is live,
        enqueuing wakes no worker."""
        ...

    def leave(self, holder: str, lease_s: float, stay: bool) -> bool:
        """Drop ``holder``'s lease and look at the queue once more, atomically with respect to
        every enqueuer that saw the lease. When work is visible: with ``stay`` the lease is
        kept and True returned (drain on); without, a worker is woken for it."""
        ...

    def take_wake_up(self, wake_id: str, lease_s: float) -> bool:
        """Take the wake-up ``wake_id`` as this worker's lease; False when it was taken before
        (a replayed call) or is unknown: then nothing is to be drained for it."""
        ...

    def start(self, holder: str, message: QueueMessage) -> Claim | None:
        """For lease ``holder``: mark a redelivered message's job running for a new attempt;
        None when it is already finished or gone (the message is then archived)."""
        ...

    def finish(self, outcomes: Sequence[Outcome]) -> set[int]:
        """Record final outcomes and archive their messages in one transaction; the msg_ids
        recorded (an attempt that no longer owns its job is left out)."""
        ...

    def retry_later(self, claim: Claim, error: str, delay_s: float) -> bool:
        """Put the job back to pending and make the message visible after ``delay_s``."""
        ...

    def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> set[int]:
        """Make messages visible at once, as if this delivery had not happened: a claim's job
        goes back to pending with its attempt uncounted, and the message's read count drops
        by one. Only what this worker still owns (the job at the claim's attempt, the message
        at the read count it was claimed with) is handed back; the msg_ids that were."""
        ...

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        """Keep claimed messages invisible for another ``visibility_s`` seconds."""
        ...

    def report_progress(self, reports: Sequence[ProgressReport]) -> None:
        """Store each running attempt's latest progress (an attempt that no longer owns its
        job changes nothing)."""
        ...

    def cancel_requested(self, job_ids: Sequence[UUID]) -> set[UUID]:
        """Those of ``job_ids`` a person asked to cancel."""
        ...


class Clock(Protocol):
    """Time as the worker sees it: a monotonic reading, and waits that end early on an event."""

    def monotonic(self) -> float: ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until ``event`` is set or ``timeout`` seconds pass; whether it is set."""
        ...


class Invoker(Protocol):
    """Starts ``process_job`` without waiting for it to finish."""

    def invoke(self, message: dict[str, Any]) -> None: ...

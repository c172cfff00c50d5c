"""Testing aids, never deployed: an in-memory WorkQueue held to the Postgres one's contract
(tests/test_work_queue_contract.py), and a clock that tests move by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from functions.core.clock import SystemClock
from functions.core.models import (
    Claim,
    ClaimedBatch,
    JobStatus,
    Outcome,
    ProgressReport,
    QueueMessage,
)
from functions.core.ports import Clock

# How often a FakeClock's waiter looks at its event (threading.Event cannot notify a
# condition), and how long in real time it waits for an event or an advance before it
# declares the test stuck.
_POLL_S = 0.002
_STUCK_AFTER_S = 30.0


class FakeClock:
    """A Clock whose time moves only by ``advance``: a task that "takes" ten seconds calls
    ``clock.advance(10)``. A wait returns when its event is set or enough time has been
    advanced; nothing else moves time, so a test decides exactly when a limit passes."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._changed = threading.Condition()
        self._waits: list[float] = []  # the fake time each current waiter waits until

    def monotonic(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        stuck_at = time.monotonic() + _STUCK_AFTER_S
        with self._changed:
            until = self._now + max(0.0, timeout)
            self._waits.append(until)
            self._changed.notify_all()
            try:
                while not event.is_set() and self._now < until:
                    if time.monotonic() > stuck_at:
                        raise AssertionError("FakeClock: nothing set the event or advanced time")
                    self._changed.wait(_POLL_S)
            finally:
                self._waits.remove(until)
        return event.is_set()

    def wait_for_waiter(self, until: float, timeout: float = 10.0) -> None:
        """Block, for up to ``timeout`` real seconds, until a thread waits until ``until``."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(abs(u - until) < 1e-9 for u in self._waits), timeout
            )
        if not found:
            raise AssertionError(f"FakeClock: no thread waits until {until}; waits: {self._waits}")


@dataclass
class MemoryJob:
    task_name: str
    payload: dict[str, Any]
    status: JobStatus = JobStatus.PENDING
    attempts: int = 0
    result: str | None = None
    error: str | None = None
    writes: int = 0
    cancel_requested: bool = False
    progress: tuple[float, float | None, str | None] | None = None
    progress_writes: int = 0


@dataclass
class _Message:
    msg_id: int
    job_id: UUID
    task_name: str
    visible_at: float
    read_count: int = 0


@dataclass
class InMemoryWorkQueue:
    clock: Clock = field(default_factory=SystemClock)
    jobs: dict[UUID, MemoryJob] = field(default_factory=dict)
    queue: dict[int, _Message] = field(default_factory=dict)
    archive: dict[int, _Message] = field(default_factory=dict)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, task_name: str, payload: dict[str, Any] | None = None) -> UUID:
        with self._lock:
            job_id = uuid4()
            self.jobs[job_id] = MemoryJob(task_name, dict(payload or {}))
            self.queue[self._next_id] = _Message(
                self._next_id, job_id, task_name, self.clock.monotonic()
            )
            self._next_id += 1
            return job_id

    def claim(self, batch_size: int, visibility_s: int) -> ClaimedBatch:
        with self._lock:
            now = self.clock.monotonic()
            ordered = sorted(self.queue.values(), key=lambda m: m.msg_id)
            visible = [m for m in ordered if m.visible_at <= now][:batch_size]
            started: list[Claim] = []
            suspects: list[QueueMessage] = []
            skipped = 0
            for entry in visible:
                entry.visible_at = now + visibility_s
                entry.read_count += 1
                message = QueueMessage(
                    entry.msg_id, entry.job_id, entry.task_name, entry.read_count
                )
                if message.read_count > 1:
                    suspects.append(message)
                    continue
                claim = self._start(message)
                if claim is None:
                    skipped += 1
                else:
                    started.append(claim)
            return ClaimedBatch(started, suspects, skipped)

    def start(self, message: QueueMessage) -> Claim | None:
        with self._lock:
            return self._start(message)

    def _start(self, message: QueueMessage) -> Claim | None:
        job = self.jobs.get(message.job_id)
        if job is None or job.status.is_terminal:
            self._archive(message.msg_id)
            return None
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.error = None
        return Claim(message, job.task_name, job.payload, job.attempts)

    def _owned(self, claim: Claim) -> MemoryJob | None:
        job = self.jobs.get(claim.message.job_id)
        if job is None or job.status != JobStatus.RUNNING or job.attempts != claim.attempt:
            return None
        return job

    def _archive(self, msg_id: int) -> None:
        message = self.queue.pop(msg_id, None)
        if message is not None:
            self.archive[msg_id] = message

    def finish(self, outcomes: Sequence[Outcome]) -> set[int]:
        recorded: set[int] = set()
        with self._lock:
            for outcome in outcomes:
                job = self._owned(outcome.claim)
                if job is None:
                    continue
                job.status, job.result, job.error = outcome.status, outcome.result, outcome.error
                if job.cancel_requested and job.status == JobStatus.FAILED:
                    job.status = JobStatus.CANCELLED  # as job_results_settle_cancel does
                job.writes += 1
                self._archive(outcome.claim.message.msg_id)
                recorded.add(outcome.claim.message.msg_id)
        return recorded

    def retry_later(self, claim: Claim, error: str, delay_s: float) -> bool:
        with self._lock:
            job = self._owned(claim)
            message = self.queue.get(claim.message.msg_id)
            if job is None or message is None:
                return False
            job.status, job.error = JobStatus.PENDING, error
            if job.cancel_requested:
                job.status = JobStatus.CANCELLED  # as job_results_settle_cancel does
            message.visible_at = self.clock.monotonic() + max(0.0, delay_s)
            return True

    def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> set[int]:
        handed: set[int] = set()
        with self._lock:
            for message, claim in [(c.message, c) for c in claims] + [(m, None) for m in unstarted]:
                entry = self.queue.get(message.msg_id)
                if entry is None or entry.read_count != message.read_count:
                    continue
                if claim is not None:
                    job = self._owned(claim)
                    if job is None:
                        continue
                    job.status, job.attempts = JobStatus.PENDING, job.attempts - 1
                entry.visible_at = self.clock.monotonic()
                entry.read_count -= 1
                handed.add(message.msg_id)
        return handed

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        with self._lock:
            for msg_id in msg_ids:
                if msg_id in self.queue:
                    self.queue[msg_id].visible_at = self.clock.monotonic() + visibility_s

    def request_cancel(self, job_id: UUID) -> JobStatus:
        """What public.cancel_job does: a job not yet running is cancelled and its message
        archived; a running one is marked for its worker; the status after the call."""
        with self._lock:
            job = self.jobs[job_id]
            if job.status == JobStatus.PENDING:
                job.status = JobStatus.CANCELLED
                for msg_id in [m.msg_id for m in self.queue.values() if m.job_id == job_id]:
                    self._archive(msg_id)
            elif job.status == JobStatus.RUNNING:
                job.cancel_requested = True
            return job.status

    def report_progress(self, reports: Sequence[ProgressReport]) -> None:
        with self._lock:
            for report in reports:
                job = self.jobs.get(report.job_id)
                if job is None or job.status != JobStatus.RUNNING or job.attempts != report.attempt:
                    continue
                job.progress = (report.done, report.total, report.message)
                job.progress_writes += 1

    def cancel_requested(self, job_ids: Sequence[UUID]) -> set[UUID]:
        with self._lock:
            return {j for j in job_ids if j in self.jobs and self.jobs[j].cancel_requested}

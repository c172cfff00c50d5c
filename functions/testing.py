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
    msg_id: int = 0  # the job's current message (job_results.msg_id); a retry sends a new one


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
    leases: dict[str, float] = field(default_factory=dict)  # holder -> expiry
    wakeups: int = 0  # webhook calls the trigger would have sent
    wake_window_s: float = 10.0
    wake_ups_taken: set[str] = field(default_factory=set)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Event = field(default_factory=threading.Event)

    def _held(self, now: float) -> bool:
        return any(expiry > now for expiry in self.leases.values())

    def _wake(self, now: float) -> None:
        if self.leases.get("wake-up", now) <= now:
            self.leases["wake-up"] = now + self.wake_window_s
            self.wakeups += 1

    def submit(
        self, task_name: str, payload: dict[str, Any] | None = None, delay_s: float = 0.0
    ) -> UUID:
        """What submit_job does; with ``delay_s`` the job is scheduled, its message due then."""
        with self._lock:
            job_id = uuid4()
            status = JobStatus.SCHEDULED if delay_s > 0 else JobStatus.PENDING
            self.jobs[job_id] = MemoryJob(task_name, dict(payload or {}), status)
            self._send(job_id, delay_s)
            return job_id

    def _send(self, job_id: UUID, delay_s: float) -> None:
        now = self.clock.monotonic()
        job = self.jobs[job_id]
        job.msg_id = self._next_id
        self.queue[self._next_id] = _Message(
            self._next_id, job_id, job.task_name, now + max(0.0, delay_s)
        )
        self._next_id += 1
        # The trigger's WHEN clause: a message due over a second from now gets no wake-up
        # (the sweeper's, when it is due).
        if delay_s <= 1.0 and not self._held(now):
            self._wake(now)
        self._arrived.set()

    def hold(self, holder: str, lease_s: float) -> None:
        with self._lock:
            self.leases[holder] = self.clock.monotonic() + lease_s

    def leave(self, holder: str, lease_s: float, stay: bool) -> bool:
        with self._lock:
            now = self.clock.monotonic()
            self.leases.pop(holder, None)
            self.leases.pop("wake-up", None)
            if not any(m.visible_at <= now for m in self.queue.values()):
                return False
            if stay:
                self.leases[holder] = now + lease_s
                return True
            self._wake(now)
            return False

    def take_wake_up(self, wake_id: str, lease_s: float) -> bool:
        with self._lock:
            if wake_id in self.wake_ups_taken:
                return False
            self.wake_ups_taken.add(wake_id)
        self.hold(wake_id, lease_s)
        return True

    def claim(
        self, holder: str, batch_size: int, visibility_s: int, wait_s: float = 0.0
    ) -> ClaimedBatch:
        until = self.clock.monotonic() + wait_s
        while True:
            self._arrived.clear()
            batch = self._claim(batch_size, visibility_s)
            left = until - self.clock.monotonic()
            if batch != ClaimedBatch([], [], 0) or left <= 0:
                return batch
            self.clock.wait(self._arrived, min(left, _POLL_S))

    def _claim(self, batch_size: int, visibility_s: int) -> ClaimedBatch:
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

    def start(self, holder: str, message: QueueMessage) -> Claim | None:
        with self._lock:
            return self._start(message)

    def _start(self, message: QueueMessage) -> Claim | None:
        job = self.jobs.get(message.job_id)
        if (
            job is None
            or job.msg_id != message.msg_id
            or job.status not in (JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.RUNNING)
        ):
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
            if job.status in (JobStatus.PENDING, JobStatus.SCHEDULED):
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

    def request_retry(self, job_id: UUID) -> JobStatus:
        """What public.retry_job does: a failed or cancelled job runs again on a new message
        (the old one, if still queued, archived), attempts afresh; the status before the call."""
        with self._lock:
            job = self.jobs[job_id]
            before = job.status
            if before not in (JobStatus.FAILED, JobStatus.CANCELLED):
                return before
            self._archive(job.msg_id)
            job.status, job.attempts, job.result, job.error = JobStatus.PENDING, 0, None, None
            job.cancel_requested, job.progress = False, None
            self._send(job_id, 0.0)
            return before

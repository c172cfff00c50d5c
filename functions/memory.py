"""In-memory WorkQueue for fast tests of the worker; the contract tests hold it to the same
behaviour as the Postgres one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from functions.core.models import Claim, ClaimedBatch, JobStatus, Outcome, QueueMessage


@dataclass
class MemoryJob:
    task_name: str
    payload: dict[str, Any]
    status: JobStatus = JobStatus.PENDING
    attempts: int = 0
    result: str | None = None
    error: str | None = None
    writes: int = 0


@dataclass
class _Message:
    msg_id: int
    job_id: UUID
    task_name: str
    visible_at: float
    read_count: int = 0


@dataclass
class InMemoryWorkQueue:
    clock: Callable[[], float] = time.monotonic
    jobs: dict[UUID, MemoryJob] = field(default_factory=dict)
    queue: dict[int, _Message] = field(default_factory=dict)
    archive: dict[int, _Message] = field(default_factory=dict)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, task_name: str, payload: dict[str, Any] | None = None) -> UUID:
        with self._lock:
            job_id = uuid4()
            self.jobs[job_id] = MemoryJob(task_name, dict(payload or {}))
            self.queue[self._next_id] = _Message(self._next_id, job_id, task_name, self.clock())
            self._next_id += 1
            return job_id

    def claim(self, batch_size: int, visibility_s: int) -> ClaimedBatch:
        with self._lock:
            now = self.clock()
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
            message.visible_at = self.clock() + round(delay_s)
            return True

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        with self._lock:
            for msg_id in msg_ids:
                if msg_id in self.queue:
                    self.queue[msg_id].visible_at = self.clock() + visibility_s

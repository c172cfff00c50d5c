"""In-memory JobStore and Invoker for tests without a database: part of the package, so any
test (ours or a user's) can wire SubmitApi and WebhookApi to them with no monkeypatching.

InMemoryJobStore keeps submit_job's rules (supabase/migrations/*_submit_job.sql and
*_idempotency_fingerprint.sql): the same validation, and Idempotency-Key replay, 422 on a
different request, 409 while in flight, expiry after a day; submit_jobs's (*_submit_jobs.sql):
a batch of 1 to 1,000 stored all or none, errors naming the item, one key for the whole batch;
the lifecycle's (*_job_lifecycle.sql): delayed start, cancel_job, retry_job, the status filter,
job events; and the owner scoping of the API's queries (*_job_owner.sql): another owner's job
is absent.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from functions.core import validation
from functions.core.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidInput,
    Unavailable,
)
from functions.core.models import Caller, Job, JobEvent, JobStatus, NewBatch, NewJob, TaskKind

IDEMPOTENCY_TTL_S = 24 * 3600  # as expires_at's default in the migration


def _digest(request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fingerprint(job: NewJob) -> str:
    """SHA-256 of the request in a canonical form (sorted keys, no spacing)."""
    request: dict[str, Any] = {"task_name": job.task_name, "payload": job.payload}
    if job.run_at is not None:
        request["run_at"] = job.run_at.astimezone(UTC).isoformat()
    elif job.delay_s is not None:
        request["delay_seconds"] = job.delay_s
    return _digest(request)


def batch_fingerprint(batch: NewBatch) -> str:
    """A batch's: of ``{"items": [...]}``, so it never equals a single job's."""
    return _digest(
        {"items": [{"task_name": j.task_name, "payload": j.payload} for j in batch.jobs]}
    )


@dataclass(frozen=True)
class _Key:
    fingerprint: str
    job_ids: tuple[UUID, ...]
    expires_at: float


@dataclass
class InMemoryJobStore:
    """A JobStore in a dict. ``in_flight`` holds keys whose first request is "still running";
    ``unavailable`` makes every call fail as a database that is down does."""

    clock: Callable[[], float] = time.time
    jobs: dict[UUID, Job] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, _Key] = field(default_factory=dict)
    history: dict[UUID, list[JobEvent]] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    unavailable: bool = False
    _msg_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _check_up(self) -> None:
        if self.unavailable:
            raise Unavailable("the database is not reachable right now; try again shortly")

    def submit(self, job: NewJob) -> UUID:
        self._check_up()
        return self._store([job], job.idempotency_key, lambda: fingerprint(job), job.owner, False)[
            0
        ]

    def submit_many(self, batch: NewBatch) -> list[UUID]:
        self._check_up()
        if not 1 <= len(batch.jobs) <= validation.MAX_BATCH_JOBS:
            raise InvalidInput(f"items holds {len(batch.jobs)} jobs; send 1 to 1000")
        for index, job in enumerate(batch.jobs):
            if job.run_at is not None or job.delay_s is not None:
                raise InvalidInput(
                    f"items[{index}] has unknown field(s); a job is {{task_name, payload}}"
                )
        return self._store(
            list(batch.jobs),
            batch.idempotency_key,
            lambda: batch_fingerprint(batch),
            batch.owner,
            True,
        )

    def _store(
        self,
        jobs: list[NewJob],
        raw_key: str | None,
        print_of: Callable[[], str],
        owner: Caller | None,
        batch: bool,
    ) -> list[UUID]:
        # The database's own checks, which hold whatever the caller validated; every item is
        # checked before anything is stored.
        checked = []
        for index, job in enumerate(jobs):
            try:
                name = validation.validate_task_name(job.task_name)
                payload = validation.validate_payload(job.payload)
            except InvalidInput as exc:
                raise InvalidInput(
                    f"items[{index}].{exc.message}" if batch else exc.message
                ) from None
            checked.append((name, payload))
        key = validation.validate_idempotency_key(raw_key)
        # A batch's items carry no start time (parse_new_jobs refuses one), so only a single
        # job can be delayed.
        job = jobs[0]
        if job.run_at is not None and job.delay_s is not None:
            raise InvalidInput("give run_at or delay_seconds, not both")
        with self._lock:
            now = self.clock()
            run_at = job.run_at
            if job.delay_s is not None:
                validation.parse_delay(job.delay_s)
                run_at = datetime.fromtimestamp(now, UTC) + timedelta(seconds=job.delay_s)
            if run_at is not None and run_at > datetime.fromtimestamp(now, UTC) + timedelta(
                days=30
            ):
                raise InvalidInput("run_at must be at most 30 days ahead")
            if key is not None:
                if key in self.in_flight:
                    raise IdempotencyKeyInFlight(
                        "a request with this Idempotency-Key is still being processed;"
                        " retry shortly"
                    )
                seen = self.keys.get(key)
                if seen is not None and seen.expires_at > now:
                    if seen.fingerprint == print_of():
                        return list(seen.job_ids)
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was first used with a different request"
                    )
                self.keys = {k: v for k, v in self.keys.items() if v.expires_at > now}
            moment = datetime.fromtimestamp(now, UTC)
            scheduled = run_at is not None and run_at > moment
            job_ids = []
            for name, payload in checked:
                job_id = uuid4()
                msg_id = next(self._msg_ids)
                self.messages.append({"msg_id": msg_id, "job_id": str(job_id), "task_name": name})
                self.jobs[job_id] = Job(
                    job_id=job_id,
                    task_name=name,
                    payload=dict(payload),
                    status=JobStatus.SCHEDULED if scheduled else JobStatus.PENDING,
                    run_at=run_at if scheduled else None,
                    result=None,
                    error=None,
                    attempts=0,
                    msg_id=msg_id,
                    created_at=moment,
                    started_at=None,
                    finished_at=None,
                    updated_at=moment,
                    owner_id=owner.user_id if owner else None,
                )
                self._event(self.jobs[job_id], "scheduled" if scheduled else "submitted")
                job_ids.append(job_id)
            if key is not None:
                self.keys[key] = _Key(print_of(), tuple(job_ids), now + IDEMPOTENCY_TTL_S)
            return job_ids

    def _event(self, job: Job, event: str, detail: str | None = None) -> None:
        moment = datetime.fromtimestamp(self.clock(), UTC)
        self.history.setdefault(job.job_id, []).append(
            JobEvent(job.run, job.attempts, event, job.status.value, detail, moment)
        )

    def events(self, job_id: UUID, owner: UUID | None = None) -> list[JobEvent]:
        self._check_up()
        with self._lock:
            if self._owned(job_id, owner) is None:
                return []
            return list(self.history.get(job_id, []))

    def _owned(self, job_id: UUID, owner: UUID | None) -> Job | None:
        # As the API's queries: another owner's job (or an owned one, for owner None) is absent.
        job = self.jobs.get(job_id)
        return job if job is not None and job.owner_id == owner else None

    def get(self, job_id: UUID, owner: UUID | None = None) -> Job | None:
        self._check_up()
        return self._owned(job_id, owner)

    def newest(
        self, limit: int, status: JobStatus | None = None, owner: UUID | None = None
    ) -> list[Job]:
        self._check_up()
        with self._lock:
            chosen = [
                j
                for j in self.jobs.values()
                if j.owner_id == owner and (status is None or j.status == status)
            ]
            ordered = sorted(chosen, key=lambda j: str(j.job_id))
            ordered.sort(key=lambda j: j.created_at, reverse=True)
            return ordered[:limit]

    def cancel(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        self._check_up()
        with self._lock:
            job = self._owned(job_id, owner)
            if job is None:
                return None
            moment = datetime.fromtimestamp(self.clock(), UTC)
            if job.status in (JobStatus.PENDING, JobStatus.SCHEDULED):
                self.messages = [m for m in self.messages if m["msg_id"] != job.msg_id]
                self._set(job, status=JobStatus.CANCELLED, finished_at=moment)
                self._event(self.jobs[job_id], "cancelled")
            elif job.status == JobStatus.RUNNING and job.cancel_requested_at is None:
                self._set(job, cancel_requested_at=moment)
                self._event(self.jobs[job_id], "cancel_requested")
            return job.status

    def retry(self, job_id: UUID, owner: UUID | None = None) -> JobStatus | None:
        self._check_up()
        with self._lock:
            job = self._owned(job_id, owner)
            if job is None:
                return None
            if job.status.retryable:
                msg_id = next(self._msg_ids)
                self.messages = [m for m in self.messages if m["msg_id"] != job.msg_id]
                self.messages.append(
                    {"msg_id": msg_id, "job_id": str(job_id), "task_name": job.task_name}
                )
                self._set(
                    job,
                    status=JobStatus.PENDING,
                    run=job.run + 1,
                    attempts=0,
                    msg_id=msg_id,
                    result=None,
                    error=None,
                    progress=None,
                    progress_total=None,
                    progress_message=None,
                    cancel_requested_at=None,
                    started_at=None,
                    finished_at=None,
                    run_at=None,
                )
                self._event(self.jobs[job_id], "retried")
            return job.status

    def _set(self, job: Job, **changes: Any) -> None:
        moment = datetime.fromtimestamp(self.clock(), UTC)
        self.jobs[job.job_id] = replace(job, updated_at=moment, **changes)


@dataclass
class InMemoryKindCatalog:
    """A KindCatalog in a dict; ``builtin()`` holds the registry's kinds as the migration
    seeds them."""

    published: dict[str, TaskKind] = field(default_factory=dict)

    @classmethod
    def builtin(cls) -> InMemoryKindCatalog:
        from functions.core.tasks import TaskSettings, registry

        default_timeout_s = 600.0  # TASK_TIMEOUT_SECONDS' default
        return cls({k.kind: k for k in registry.describe(TaskSettings(), default_timeout_s)})

    def kinds(self) -> dict[str, TaskKind]:
        return dict(self.published)

    def publish(self, kinds: Sequence[TaskKind]) -> None:
        self.published.update({k.kind: k for k in kinds})


@dataclass
class RecordingInvoker:
    """An Invoker that records each message; ``failure`` makes the next invocations raise it."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    failure: Exception | None = None

    def invoke(self, message: dict[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.calls.append(dict(message))

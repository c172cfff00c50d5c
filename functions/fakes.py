"""In-memory JobStore and Invoker for tests without a database: part of the package, so any
test (ours or a user's) can wire SubmitApi and WebhookApi to them with no monkeypatching.

InMemoryJobStore keeps submit_job's rules (supabase/migrations/*_submit_job.sql and
*_idempotency_fingerprint.sql): the same validation, and Idempotency-Key replay, 422 on a
different request, 409 while in flight, expiry after a day; and submit_jobs's
(*_submit_jobs.sql): a batch of 1 to 1,000 stored all or none, errors naming the item, one key
for the whole batch.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from functions.core import validation
from functions.core.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidInput,
    Unavailable,
)
from functions.core.models import Job, JobStatus, NewBatch, NewJob

IDEMPOTENCY_TTL_S = 24 * 3600  # as expires_at's default in the migration


def _digest(request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fingerprint(job: NewJob) -> str:
    """SHA-256 of the request in a canonical form (sorted keys, no spacing)."""
    return _digest({"task_name": job.task_name, "payload": job.payload})


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
    in_flight: set[str] = field(default_factory=set)
    unavailable: bool = False
    _msg_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _check_up(self) -> None:
        if self.unavailable:
            raise Unavailable("the database is not reachable right now; try again shortly")

    def submit(self, job: NewJob) -> UUID:
        self._check_up()
        return self._store([job], job.idempotency_key, lambda: fingerprint(job), False)[0]

    def submit_many(self, batch: NewBatch) -> list[UUID]:
        self._check_up()
        if not 1 <= len(batch.jobs) <= validation.MAX_BATCH_JOBS:
            raise InvalidInput(f"items holds {len(batch.jobs)} jobs; send 1 to 1000")
        return self._store(
            list(batch.jobs), batch.idempotency_key, lambda: batch_fingerprint(batch), True
        )

    def _store(
        self, jobs: list[NewJob], raw_key: str | None, print_of: Callable[[], str], batch: bool
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
        with self._lock:
            now = self.clock()
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
            job_ids = []
            for name, payload in checked:
                job_id = uuid4()
                msg_id = next(self._msg_ids)
                self.messages.append({"msg_id": msg_id, "job_id": str(job_id), "task_name": name})
                self.jobs[job_id] = Job(
                    job_id=job_id,
                    task_name=name,
                    payload=dict(payload),
                    status=JobStatus.PENDING,
                    result=None,
                    error=None,
                    attempts=0,
                    msg_id=msg_id,
                    created_at=moment,
                    started_at=None,
                    finished_at=None,
                    updated_at=moment,
                )
                job_ids.append(job_id)
            if key is not None:
                self.keys[key] = _Key(print_of(), tuple(job_ids), now + IDEMPOTENCY_TTL_S)
            return job_ids

    def get(self, job_id: UUID) -> Job | None:
        self._check_up()
        return self.jobs.get(job_id)

    def newest(self, limit: int) -> list[Job]:
        self._check_up()
        with self._lock:
            ordered = sorted(self.jobs.values(), key=lambda j: str(j.job_id))
            ordered.sort(key=lambda j: j.created_at, reverse=True)
            return ordered[:limit]


@dataclass
class RecordingInvoker:
    """An Invoker that records each message; ``failure`` makes the next invocations raise it."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    failure: Exception | None = None

    def invoke(self, message: dict[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.calls.append(dict(message))

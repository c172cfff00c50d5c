"""In-memory JobStore and Invoker for tests without a database: part of the package, so any
test (ours or a user's) can wire SubmitApi and WebhookApi to them with no monkeypatching.

InMemoryJobStore keeps submit_job's rules (supabase/migrations/*_submit_job.sql and
*_idempotency_fingerprint.sql): the same validation, and Idempotency-Key replay, 422 on a
different request, 409 while in flight, expiry after a day.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from functions.core import validation
from functions.core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, Unavailable
from functions.core.models import Job, JobStatus, NewJob, TaskKind

IDEMPOTENCY_TTL_S = 24 * 3600  # as expires_at's default in the migration


def fingerprint(job: NewJob) -> str:
    """SHA-256 of the request in a canonical form (sorted keys, no spacing)."""
    canonical = json.dumps(
        {"task_name": job.task_name, "payload": job.payload},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Key:
    fingerprint: str
    job_id: UUID
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
        # The database's own checks, which hold whatever the caller validated.
        name = validation.validate_task_name(job.task_name)
        payload = validation.validate_payload(job.payload)
        key = validation.validate_idempotency_key(job.idempotency_key)
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
                    if seen.fingerprint == fingerprint(job):
                        return seen.job_id
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was first used with a different request"
                    )
                self.keys = {k: v for k, v in self.keys.items() if v.expires_at > now}
            job_id = uuid4()
            msg_id = next(self._msg_ids)
            self.messages.append({"msg_id": msg_id, "job_id": str(job_id), "task_name": name})
            moment = datetime.fromtimestamp(now, UTC)
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
                owner_id=job.owner.user_id if job.owner else None,
            )
            if key is not None:
                self.keys[key] = _Key(fingerprint(job), job_id, now + IDEMPOTENCY_TTL_S)
            return job_id

    def get(self, job_id: UUID, owner: UUID | None = None) -> Job | None:
        self._check_up()
        job = self.jobs.get(job_id)
        return job if job is not None and job.owner_id == owner else None

    def newest(self, limit: int, owner: UUID | None = None) -> list[Job]:
        self._check_up()
        with self._lock:
            mine = [j for j in self.jobs.values() if j.owner_id == owner]
            ordered = sorted(mine, key=lambda j: str(j.job_id))
            ordered.sort(key=lambda j: j.created_at, reverse=True)
            return ordered[:limit]


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

"""What operators ask of the queue: its metrics, the failed jobs by kind and error, and the
filter a bulk retry takes. Plain values; the database answers them (functions/db/ops_store.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

DEFAULT_WINDOW_S = 300
MIN_WINDOW_S = 10
MAX_WINDOW_S = 86_400
# A bulk retry takes at most this many jobs in one transaction (public.retry_jobs refuses more).
MAX_BULK_RETRY = 10_000
DEFAULT_FAILURE_GROUPS = 50
MAX_FAILURE_GROUPS = 500
# How many of a group's job ids the failures list names (the newest).
GROUP_SAMPLE = 20


@dataclass(frozen=True)
class Scope:
    """Whose jobs a request may see and steer: an operator's are every owner's; otherwise
    ``owner``'s (None: the public demo jobs), as for a single job."""

    owner: UUID | None
    any_owner: bool = False


@dataclass(frozen=True)
class FailureFilter:
    """Failed (or cancelled) jobs by kind, the first line of their error, and when they ended
    (``since`` inclusive, ``until`` exclusive); ``job_ids`` names them outright; ``expect`` is
    how many the caller saw (a bulk retry of another count retries nothing)."""

    status: str = "failed"
    kind: str | None = None
    error: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    job_ids: tuple[UUID, ...] | None = None
    expect: int | None = None


@dataclass(frozen=True)
class FailureGroup:
    kind: str
    error: str
    jobs: int
    first_at: datetime
    last_at: datetime
    job_ids: tuple[UUID, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "error": self.error,
            "jobs": self.jobs,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "job_ids": [str(job_id) for job_id in self.job_ids],
        }


class OpsStore(Protocol):
    """What the operators' routes need of the database."""

    def metrics(self, window_s: int) -> dict[str, Any]:
        """public.queue_metrics over the last ``window_s`` seconds, as it answers."""
        ...

    def failures(
        self, scope: Scope, wanted: FailureFilter, limit: int
    ) -> tuple[datetime, list[FailureGroup]]:
        """The database's now, and the groups of ``scope``'s jobs ``wanted`` matches, the
        largest first."""
        ...

    def retry_many(self, scope: Scope, wanted: FailureFilter) -> int:
        """Retry every job ``wanted`` matches in ``scope``, all or none; how many."""
        ...

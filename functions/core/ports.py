"""The seams between the core and the world, as Protocols; adapters live outside core/."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from functions.core.models import Claim, Job, NewJob, QueueMessage


class JobStore(Protocol):
    """What the submit function needs of the database."""

    def submit(self, job: NewJob) -> UUID: ...

    def get(self, job_id: UUID) -> Job | None: ...

    def newest(self, limit: int) -> list[Job]: ...


class WorkQueue(Protocol):
    """What the worker needs of the database: claims and state changes, each atomic."""

    def claim(self, batch_size: int, visibility_s: int) -> list[QueueMessage]:
        """Messages now invisible to other workers for ``visibility_s`` seconds."""
        ...

    def start(self, message: QueueMessage) -> Claim | None:
        """Mark the job running for a new attempt; None when it is already finished or gone
        (the message is then archived)."""
        ...

    def complete(self, claim: Claim, result: str) -> bool:
        """Write the result and archive the message in one transaction; False when this attempt
        no longer owns the job."""
        ...

    def fail(self, claim: Claim, error: str) -> bool:
        """Mark the job failed for good and archive the message in one transaction."""
        ...

    def retry_later(self, claim: Claim, error: str, delay_s: float) -> bool:
        """Put the job back to pending and make the message visible after ``delay_s``."""
        ...

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        """Keep claimed messages invisible for another ``visibility_s`` seconds."""
        ...


class Invoker(Protocol):
    """Starts ``process_job`` without waiting for it to finish."""

    def invoke(self, message: dict[str, Any]) -> None: ...

"""The worker's queue with each job's spans: used only when tracing is on (functions/tracing.py).

For every claimed job, in the job's own trace (its stored traceparent, the submit span): a
``claim`` span (the claim statement, linked to the drain that made it), an ``attempt`` span from
the claim until the outcome, and under it a ``result write`` span (the statement recording the
outcome, a retry or a hand-back). The drain itself is a child of the wake-up's delivery: one
wake-up serves many jobs, so the jobs link to it rather than descend from it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from functions.core.models import Claim, ClaimedBatch, Outcome, ProgressReport, QueueMessage
from functions.core.ports import WorkQueue
from functions.tracing import Span, Tracer


class TracedWorkQueue:
    """``queue`` with spans; ``traceparents`` reads the stored trace contexts of job ids, and
    ``drain`` names the current drain's span (the link each claim carries)."""

    def __init__(
        self,
        queue: WorkQueue,
        tracer: Tracer,
        traceparents: Callable[[Sequence[UUID]], dict[UUID, str]],
        drain: Callable[[], str | None],
    ) -> None:
        self._queue = queue
        self._tracer = tracer
        self._traceparents = traceparents
        self._drain = drain
        self._attempts: dict[tuple[UUID, int], Span] = {}
        self._lock = threading.Lock()

    def _claimed(self, claims: Sequence[Claim], began_ns: int, ended_ns: int) -> None:
        if not claims:
            return
        parents = self._traceparents([c.message.job_id for c in claims])
        drain = self._drain()
        for claim in claims:
            job_id = claim.message.job_id
            parent = parents.get(job_id)
            attributes: dict[str, Any] = {
                "job_id": job_id,
                "kind": claim.kind,
                "attempt": claim.attempt,
            }
            self._tracer.start(
                "claim", parent, links=(drain,), start_time_ns=began_ns, **attributes
            ).end(ended_ns)
            attempt = self._tracer.start(
                f"attempt {claim.attempt}", parent, start_time_ns=ended_ns, **attributes
            )
            with self._lock:
                self._attempts[(job_id, claim.attempt)] = attempt

    @contextmanager
    def _writing(self, claims: Sequence[Claim], outcome: str | Sequence[str]) -> Iterator[None]:
        """A ``result write`` span under each claim's attempt around the block; the attempts
        end with it."""
        began = time.time_ns()
        try:
            yield
        finally:
            ended = time.time_ns()
            outcomes = [outcome] * len(claims) if isinstance(outcome, str) else outcome
            for claim, how in zip(claims, outcomes, strict=True):
                with self._lock:
                    attempt = self._attempts.pop((claim.message.job_id, claim.attempt), None)
                if attempt is None:
                    continue
                self._tracer.start(
                    "result write",
                    attempt.traceparent,
                    start_time_ns=began,
                    job_id=claim.message.job_id,
                    kind=claim.kind,
                    outcome=how,
                ).end(ended)
                attempt.set(outcome=how)
                attempt.end(ended)

    def claim(
        self,
        holder: str,
        batch_size: int,
        visibility_s: int,
        wait_s: float = 0.0,
        scale: bool = True,
    ) -> ClaimedBatch:
        began = time.time_ns()
        batch = self._queue.claim(holder, batch_size, visibility_s, wait_s, scale)
        self._claimed(batch.started, began, time.time_ns())
        return batch

    def start(self, holder: str, message: QueueMessage) -> Claim | None:
        began = time.time_ns()
        claim = self._queue.start(holder, message)
        if claim is not None:
            self._claimed([claim], began, time.time_ns())
        return claim

    def finish(self, outcomes: Sequence[Outcome]) -> set[int]:
        with self._writing([o.claim for o in outcomes], [o.status.value for o in outcomes]):
            return self._queue.finish(outcomes)

    def retry_later(self, claim: Claim, error: str, delay_s: float) -> bool:
        with self._writing([claim], "retrying"):
            return self._queue.retry_later(claim, error, delay_s)

    def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> set[int]:
        with self._writing(claims, "handed_back"):
            return self._queue.hand_back(claims, unstarted)

    # The rest is the queue's own.

    def hold(self, holder: str, lease_s: float) -> None:
        self._queue.hold(holder, lease_s)

    def leave(self, holder: str, lease_s: float, stay: bool) -> bool:
        return self._queue.leave(holder, lease_s, stay)

    def take_wake_up(self, wake_id: str, lease_s: float) -> bool:
        return self._queue.take_wake_up(wake_id, lease_s)

    def extend(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        self._queue.extend(msg_ids, visibility_s)

    def report_progress(self, reports: Sequence[ProgressReport]) -> None:
        self._queue.report_progress(reports)

    def cancel_requested(self, job_ids: Sequence[UUID]) -> set[UUID]:
        return self._queue.cancel_requested(job_ids)

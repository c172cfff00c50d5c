"""process_job's loop: claim a batch, run each task, record the outcome exactly once.

Delivery is at least once (a crashed worker's message reappears after its visibility timeout);
the result is written at most once, because every write is conditional on this attempt still
owning the job (status running, same attempt number) and happens in the transaction that
archives the message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from functions.core.errors import UnknownTask
from functions.core.models import Claim, ClaimedBatch, JobStatus, Outcome
from functions.core.ports import WorkQueue
from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskContext, TaskRegistry, kind_of

log = logging.getLogger("functions.worker")

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 10
    visibility_s: int = 30
    task_timeout_s: float = 900.0
    linger_s: float = 30.0
    task_settings: dict[str, float] = field(default_factory=dict)


@dataclass
class DrainReport:
    completed: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0

    @property
    def handled(self) -> int:
        return self.completed + self.failed + self.retried + self.skipped

    def to_json(self) -> dict[str, int]:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
        }


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


def render_result(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class _Heartbeat:
    """Extends the visibility of in-flight messages so a long task keeps its claim."""

    def __init__(self, queue_factory: Callable[[], WorkQueue], visibility_s: int) -> None:
        self._queue_factory = queue_factory
        self._visibility_s = visibility_s
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def add(self, msg_id: int) -> None:
        with self._lock:
            self._in_flight.add(msg_id)

    def remove(self, msg_id: int) -> None:
        with self._lock:
            self._in_flight.discard(msg_id)

    def _run(self) -> None:
        queue: WorkQueue | None = None
        while not self._stop.wait(self._visibility_s / 3):
            with self._lock:
                msg_ids = sorted(self._in_flight)
            if not msg_ids:
                continue
            try:
                queue = queue or self._queue_factory()
                queue.extend(msg_ids, self._visibility_s)
            except Exception:
                log.exception("could not extend visibility of %s", msg_ids)
                queue = None


class Worker:
    """Drains work_queue. ``queue_factory`` gives a WorkQueue per thread (one connection each)."""

    def __init__(
        self,
        queue_factory: Callable[[], WorkQueue],
        registry: TaskRegistry,
        policy: RetryPolicy,
        settings: WorkerSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue_factory = queue_factory
        self._registry = registry
        self._policy = policy
        self._settings = settings
        self._clock = clock

    def drain(self, deadline: float) -> DrainReport:
        """Process visible messages until none is left or ``deadline`` (clock time) is near.

        A retry this call scheduled soon enough is waited for, so a failing task's attempts run
        without needing another wake-up.
        """
        queue = self._queue_factory()
        # Not a with-block: shutting down must not wait for a task that overran its time limit.
        pool = ThreadPoolExecutor(self._settings.batch_size, thread_name_prefix="task")
        try:
            with _Heartbeat(self._queue_factory, self._settings.visibility_s) as heartbeat:
                report = self._drain(queue, pool, heartbeat, deadline)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return report

    def _drain(
        self, queue: WorkQueue, pool: ThreadPoolExecutor, heartbeat: _Heartbeat, deadline: float
    ) -> DrainReport:
        report = DrainReport()
        next_retry_at: float | None = None
        while self._clock() < deadline:
            batch = queue.claim(self._settings.batch_size, self._settings.visibility_s)
            report.skipped += batch.skipped
            if not batch.started and not batch.suspects:
                if batch.skipped:
                    continue
                if next_retry_at is None or next_retry_at > deadline:
                    break
                time.sleep(max(0.0, next_retry_at - self._clock()) + 0.05)
                next_retry_at = None
                continue
            for retry_at in self._run_batch(queue, batch, pool, heartbeat, report):
                if retry_at - self._clock() <= self._settings.linger_s:
                    next_retry_at = min(next_retry_at or retry_at, retry_at)
        return report

    def _run_batch(
        self,
        queue: WorkQueue,
        batch: ClaimedBatch,
        pool: ThreadPoolExecutor,
        heartbeat: _Heartbeat,
        report: DrainReport,
    ) -> list[float]:
        """Run first deliveries side by side, then redeliveries one at a time: a message seen
        before may be the one that crashed a worker, and alone it can take nothing else down."""
        for message in [c.message for c in batch.started] + batch.suspects:
            heartbeat.add(message.msg_id)
        retries = self._run_together(queue, batch.started, pool, heartbeat, report)
        for message in batch.suspects:
            suspect = queue.start(message)
            if suspect is None:
                report.skipped += 1
                heartbeat.remove(message.msg_id)
                continue
            retries += self._run_together(queue, [suspect], pool, heartbeat, report)
        return retries

    def _run_together(
        self,
        queue: WorkQueue,
        claims: list[Claim],
        pool: ThreadPoolExecutor,
        heartbeat: _Heartbeat,
        report: DrainReport,
    ) -> list[float]:
        retries: list[float] = []
        pending: dict[Future[Any], tuple[Claim, float]] = {}
        exhausted: list[Outcome] = []
        for claim in claims:
            if claim.attempt > self._policy.max_attempts:
                # Earlier attempts died without recording anything (a crash or a kill).
                error = f"gave up after {claim.attempt - 1} attempts that never finished"
                exhausted.append(Outcome(claim, JobStatus.FAILED, None, error))
                continue
            time_limit = self._clock() + self._settings.task_timeout_s
            pending[pool.submit(self._run_task, claim)] = (claim, time_limit)
        self._finish(queue, exhausted, heartbeat, report)

        # Outcomes are recorded as their tasks end, each group that ends together in one
        # statement: a quick job never waits behind a slow batch-mate to be shown completed.
        while pending:
            nearest = min(limit for _, limit in pending.values())
            done, _ = wait(
                pending, timeout=max(0.0, nearest - self._clock()), return_when=FIRST_COMPLETED
            )
            if not done:  # the nearest time limit passed
                done = {f for f, (_, limit) in pending.items() if limit <= self._clock()}
            else:  # take every task that has ended by now, so one statement records them all
                done |= wait(pending.keys() - done, timeout=0).done
            finished: list[Outcome] = []
            for future in done:
                claim, _ = pending.pop(future)
                outcome = self._outcome(claim, future)
                if (
                    outcome.status == JobStatus.FAILED
                    and outcome.retryable
                    and (self._policy.should_retry(claim.attempt))
                ):
                    delay = self._policy.delay_after(claim.attempt)
                    if queue.retry_later(claim, outcome.error or "", delay):
                        report.retried += 1
                        retries.append(self._clock() + delay)
                    heartbeat.remove(claim.message.msg_id)
                else:
                    finished.append(outcome)
            self._finish(queue, finished, heartbeat, report)
        return retries

    def _finish(
        self, queue: WorkQueue, outcomes: list[Outcome], heartbeat: _Heartbeat, report: DrainReport
    ) -> None:
        if not outcomes:
            return
        recorded = queue.finish(outcomes)
        for outcome in outcomes:
            msg_id = outcome.claim.message.msg_id
            heartbeat.remove(msg_id)
            if msg_id not in recorded:
                continue  # a newer attempt owns the job; this one's outcome is dropped
            if outcome.status == JobStatus.COMPLETED:
                report.completed += 1
            else:
                report.failed += 1
                log.info(
                    "failed on attempt %d: %s",
                    outcome.claim.attempt,
                    outcome.error,
                    extra={"job_id": outcome.claim.message.job_id},
                )

    def _outcome(self, claim: Claim, future: Future[Any]) -> Outcome:
        if not future.done():
            timeout = f"timed out after {self._settings.task_timeout_s:g} s"
            return Outcome(claim, JobStatus.FAILED, None, timeout)
        try:
            result = future.result()
        except UnknownTask as exc:
            # Retrying cannot make an unknown task known.
            return Outcome(claim, JobStatus.FAILED, None, str(exc), retryable=False)
        except Exception as exc:
            log.warning(
                "attempt %d raised\n%s",
                claim.attempt,
                "".join(traceback.format_exception(exc)),
                extra={"job_id": claim.message.job_id},
            )
            return Outcome(claim, JobStatus.FAILED, None, describe_error(exc))
        return Outcome(claim, JobStatus.COMPLETED, render_result(result), None)

    def _run_task(self, claim: Claim) -> Any:
        function = self._registry.resolve(kind_of(claim.payload))
        return function(
            TaskContext(
                job_id=claim.message.job_id,
                task_name=claim.task_name,
                payload=claim.payload,
                attempt=claim.attempt,
                settings=self._settings.task_settings,
            )
        )

"""One drain: claim batches until the queue is empty (after lingering) or time runs out, run
first deliveries side by side and redeliveries alone, and record each outcome as it ends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from functions.core.models import (
    Claim,
    ClaimedBatch,
    DrainReport,
    Failure,
    JobStatus,
    Outcome,
    QueueMessage,
)
from functions.core.retry import HandBack, Retry, next_step
from functions.core.tasks import TaskControl
from functions.worker.heartbeat import Heartbeat
from functions.worker.lease import Lease
from functions.worker.run import Running

if TYPE_CHECKING:
    from functions.worker.worker import Worker

log = logging.getLogger("functions.worker")

# A retry is claimed this long after it is due by our clock: the database compares
# visibility with its own clock, and a hair's difference must not miss the message.
VISIBILITY_SLACK_S = 0.05
# The longest one waiting claim lasts: behind a transaction pooler it holds a server connection.
CLAIM_WAIT_MAX_S = 1.0
# How often a claim may ask the database for more workers: the first ask brings the backlog's
# whole share at once, so asking on every claim (each paying for the look) would add nothing.
SCALE_EVERY_S = 1.0


class Drain:
    """One call of ``Worker.drain``: its deadline, its tally, and whether time ran out."""

    def __init__(
        self,
        worker: Worker,
        pool: ThreadPoolExecutor,
        heartbeat: Heartbeat,
        lease: Lease,
        deadline: float,
    ) -> None:
        self.settings = worker.settings
        self.policy = worker.policy
        self.draw = worker.draw
        self.runner = worker.runner
        self.queue = worker.queue
        self.clock = worker.clock
        self.pool = pool
        self.heartbeat = heartbeat
        self.lease = lease
        self.deadline = deadline
        self.budget_s = deadline - self.clock.monotonic()
        self.report = DrainReport()
        self.shortest_s = worker.registry.shortest_limit(
            self.settings.task_settings, self.settings.task_timeout_s
        )
        # Set once anything was handed back for want of time: claiming again would only
        # fetch the same messages.
        self.out_of_time = False
        self.next_scale_at = self.clock.monotonic()  # the first claim may ask
        # Whether this drain has run anything: only then does it linger for more. A call that
        # finds the queue empty from the start (a cold start's first request, a sweep's tick,
        # a wake-up another worker beat it to) answers at once instead of waiting out the linger.
        self.worked = False
        self.task_ended = threading.Event()
        self.idle = threading.Event()  # never set: waiting on it is waiting for time to pass

    def room_for(self, limit_s: float, at: float | None = None) -> bool:
        start = self.clock.monotonic() if at is None else at
        return start + limit_s <= self.deadline

    def fits(self, claim: Claim) -> bool:
        exhausted = claim.attempt > self.policy.max_attempts  # fails without running
        return exhausted or self.room_for(self.runner.time_limit(claim))

    def run(self) -> DrainReport:
        settings = self.settings
        next_retry_at: float | None = None
        idle_since: float | None = None  # when the queue was last found empty
        while not self.out_of_time and self.room_for(self.shortest_s):
            wait_s = 0.0
            if idle_since is not None and next_retry_at is None and self.worked:
                # The warm fast path: wait in the claim for new work, up to the linger.
                wait_s = min(
                    idle_since + settings.idle_linger_s - self.clock.monotonic(),
                    self.deadline - self.shortest_s - self.clock.monotonic(),
                    CLAIM_WAIT_MAX_S,
                )
            scale = self.clock.monotonic() >= self.next_scale_at
            batch = self.queue.claim(
                self.lease.holder,
                settings.batch_size,
                settings.visibility_s,
                max(0.0, wait_s),
                scale,
            )
            if scale:
                self.next_scale_at = self.clock.monotonic() + SCALE_EVERY_S
            self.report.skipped += batch.skipped
            if batch.started or batch.suspects:
                self.worked = True
            if not batch.started and not batch.suspects:
                if batch.skipped:
                    continue
                if next_retry_at is not None and self.room_for(self.shortest_s, next_retry_at):
                    wait_retry_s = next_retry_at - self.clock.monotonic()
                    if wait_retry_s > 0:
                        self.clock.wait(self.idle, wait_retry_s + VISIBILITY_SLACK_S)
                    next_retry_at = None
                    continue
                next_retry_at = None
                now = self.clock.monotonic()
                if idle_since is None:
                    idle_since = now
                if (
                    self.worked
                    and now < idle_since + settings.idle_linger_s
                    and self.room_for(self.shortest_s)
                ):
                    continue
                if self.lease.leave(stay=not self.out_of_time and self.room_for(self.shortest_s)):
                    idle_since = None  # work arrived as we left: the lease is kept
                    continue
                break
            idle_since = None
            for retry_at in self.run_batch(batch):
                if retry_at - self.clock.monotonic() <= settings.retry_wait_s:
                    next_retry_at = (
                        retry_at if next_retry_at is None else min(next_retry_at, retry_at)
                    )
        return self.report

    def run_batch(self, batch: ClaimedBatch) -> list[float]:
        """Run first deliveries side by side, then redeliveries one at a time: a message seen
        before may be the one that crashed a worker, and alone it can take nothing else down."""
        for message in [c.message for c in batch.started] + batch.suspects:
            self.heartbeat.add(message.msg_id)
        runnable: list[Claim] = []
        no_room: list[Claim] = []
        for claim in batch.started:
            (runnable if self.fits(claim) else no_room).append(claim)
        self.hand_back(no_room, [])
        retries = self.run_together(runnable)
        for n, message in enumerate(batch.suspects):
            if not self.room_for(self.shortest_s):
                self.hand_back([], batch.suspects[n:])
                break
            suspect = self.queue.start(self.lease.holder, message)
            if suspect is None:
                self.report.skipped += 1
                self.heartbeat.remove(message.msg_id)
            elif not self.fits(suspect):
                self.hand_back([suspect], [])
            else:
                retries += self.run_together([suspect])
        return retries

    def run_together(self, claims: list[Claim]) -> list[float]:
        retries: list[float] = []
        pending: dict[Future[Any], Running] = {}
        exhausted: list[Outcome] = []
        for claim in claims:
            if claim.attempt > self.policy.max_attempts:
                # Earlier attempts died without recording anything (a crash or a kill).
                error = f"gave up after {claim.attempt - 1} attempts that never finished"
                exhausted.append(Outcome(claim, JobStatus.FAILED, None, error, Failure.PERMANENT))
        self.finish(exhausted)
        for claim in claims:
            if claim.attempt > self.policy.max_attempts:
                continue
            # Started even when the time left has shrunk since it was found to fit (a slow
            # statement in between): most tasks end well within their limit, and one that
            # does not is handed back at the deadline, its attempt uncounted.
            limit_s = self.runner.time_limit(claim)
            own_end = self.clock.monotonic() + limit_s
            control = TaskControl()
            self.heartbeat.watch(claim, control)
            future = self.pool.submit(self.runner.run_task, claim, control)
            future.add_done_callback(lambda _: self.task_ended.set())
            pending[future] = Running(
                claim, limit_s, min(own_end, self.deadline), own_end > self.deadline, control
            )

        # Outcomes are recorded as their tasks end, each group that ends together in one
        # statement: a quick job never waits behind a slow batch-mate to be shown completed.
        while pending:
            self.task_ended.clear()  # before looking, so an end after the look still wakes us
            now = self.clock.monotonic()
            due = [f for f, run in pending.items() if f.done() or run.stop_at <= now]
            if not due:
                nearest = min(run.stop_at for run in pending.values())
                self.clock.wait(self.task_ended, nearest - now)
                continue
            finished: list[Outcome] = []
            interrupted: list[Claim] = []
            for future in due:
                run = pending.pop(future)
                outcome = self.runner.outcome(run, future)
                if outcome.failure is None:
                    finished.append(outcome)
                    continue
                step = next_step(run.claim.attempt, outcome.failure, self.policy, self.draw)
                if isinstance(step, Retry):
                    if self.queue.retry_later(run.claim, outcome.error or "", step.delay_s):
                        self.report.retried += 1
                        retries.append(self.clock.monotonic() + step.delay_s)
                    self.heartbeat.remove(run.claim.message.msg_id)
                elif isinstance(step, HandBack):
                    interrupted.append(run.claim)
                else:
                    finished.append(outcome)
            self.hand_back(interrupted, [])
            self.finish(finished)
        return retries

    def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> None:
        if not claims and not unstarted:
            return
        self.out_of_time = True
        handed = self.queue.hand_back(claims, unstarted)
        self.report.handed_back += len(handed)
        for message in [c.message for c in claims] + list(unstarted):
            self.heartbeat.remove(message.msg_id)
        for claim in claims:
            limit_s = self.runner.time_limit(claim)
            if limit_s > self.budget_s:
                log.warning(
                    "task %r declares %g s, more than this invocation's whole %g s: it can"
                    " only run in a longer one",
                    claim.kind,
                    limit_s,
                    self.budget_s,
                    extra={"job_id": claim.message.job_id},
                )
        log.info(
            "handed back %d message(s) for want of time: %s",
            len(handed),
            sorted(handed),
        )

    def finish(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        recorded = self.queue.finish(outcomes)
        for outcome in outcomes:
            msg_id = outcome.claim.message.msg_id
            self.heartbeat.remove(msg_id)
            if msg_id not in recorded:
                continue  # a newer attempt owns the job; this one's outcome is dropped
            if outcome.status == JobStatus.COMPLETED:
                self.report.completed += 1
            elif outcome.status == JobStatus.CANCELLED:
                self.report.cancelled += 1
            else:
                self.report.failed += 1
                log.info(
                    "failed on attempt %d: %s",
                    outcome.claim.attempt,
                    outcome.error,
                    extra={"job_id": outcome.claim.message.job_id},
                )

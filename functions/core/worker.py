"""process_job's loop: claim a batch, run each task within its deadline, record the outcome once.

Delivery is at least once (a crashed worker's message reappears after its visibility timeout);
the result is written at most once, because every write is conditional on this attempt still
owning the job (status running, same attempt number) and happens in the transaction that
archives the message.

A drain has a deadline (the invocation's, less a margin). A task must end by the earlier of
its own time limit and that deadline, so the worker starts only tasks whose declared limit
fits in the time left; what it claimed but cannot run, it hands back at once.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from functions.core.clock import SystemClock
from functions.core.errors import UnknownTask
from functions.core.models import (
    Claim,
    ClaimedBatch,
    Failure,
    JobStatus,
    Outcome,
    ProgressReport,
    QueueMessage,
)
from functions.core.ports import Clock, WorkQueue
from functions.core.retry import HandBack, Retry, RetryPolicy, next_step
from functions.core.tasks import (
    JobCancelled,
    TaskContext,
    TaskControl,
    TaskRegistry,
    TaskSettings,
    kind_of,
)

log = logging.getLogger("functions.worker")

MAX_ERROR_CHARS = 4000
# A retry is claimed this long after it is due by our clock: the database compares
# visibility with its own clock, and a hair's difference must not miss the message.
VISIBILITY_SLACK_S = 0.05
# The longest one waiting claim lasts: behind a transaction pooler it holds a server connection.
CLAIM_WAIT_MAX_S = 1.0
# The heartbeat's beat: each one writes the tasks' latest progress (so at most this many
# writes a second per job, 2, the latest report winning) and looks for cancel requests (so a
# running task learns of one within about this long plus a statement).
CONTROL_TICK_S = 0.5
CANCELLED = "cancelled on request"


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 10
    visibility_s: int = 30
    # How long a worker's lease lasts unrenewed (renewed every third of it): a dead worker is
    # noticed by the sweep this long after its last heartbeat.
    lease_s: float = 6.0
    task_timeout_s: float = 600.0  # the time limit of a task kind that declares none
    linger_s: float = 30.0  # a retry due within this long is waited for
    # How long an idle worker keeps its lease and waits for new work (the warm fast path)
    # before it leaves; 0: it leaves as soon as the queue is empty.
    idle_linger_s: float = 0.0
    task_settings: TaskSettings = field(default_factory=TaskSettings)


@dataclass
class DrainReport:
    completed: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    handed_back: int = 0
    cancelled: int = 0

    @property
    def handled(self) -> int:
        return (
            self.completed
            + self.failed
            + self.retried
            + self.skipped
            + self.handed_back
            + self.cancelled
        )

    def to_json(self) -> dict[str, int]:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
            "handed_back": self.handed_back,
            "cancelled": self.cancelled,
        }


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


def render_result(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class _Heartbeat:
    """Keeps in-flight messages invisible so a long task keeps its claim, writes the tasks'
    progress, and passes cancel requests to them: the only thread besides the claimer that
    talks to the database (task threads never do)."""

    def __init__(
        self, queue: WorkQueue, visibility_s: int, lease_s: float, clock: Clock, holder: str
    ) -> None:
        self._queue = queue
        self._holder = holder
        self._visibility_s = visibility_s
        self._lease_s = lease_s
        self._clock = clock
        self._in_flight: set[int] = set()
        self._watched: dict[int, tuple[Claim, TaskControl]] = {}
        self._lock = threading.Lock()
        # Renewals stop before the worker leaves: one landing after the leave would hold the
        # queue for a worker that is gone.
        self._lease_lock = threading.Lock()
        self._renewing = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def renew_lease(self) -> None:
        with self._lease_lock:
            if not self._renewing:
                return
            try:
                self._queue.hold(self._holder, self._lease_s)
            except Exception:
                log.exception("could not renew the wake-up lease")

    def renewing(self, on: bool) -> None:
        """Stop renewals (waiting for one in progress) before leaving; resume on staying."""
        with self._lease_lock:
            self._renewing = on

    def add(self, msg_id: int) -> None:
        with self._lock:
            self._in_flight.add(msg_id)

    def watch(self, claim: Claim, control: TaskControl) -> None:
        with self._lock:
            self._watched[claim.message.msg_id] = (claim, control)

    def remove(self, msg_id: int) -> None:
        with self._lock:
            self._in_flight.discard(msg_id)
            self._watched.pop(msg_id, None)

    def _run(self) -> None:
        # The lease and visibility are each renewed a third of the way through, on their own
        # periods; progress and cancel requests every beat.
        renew_every_s = self._lease_s / 3
        extend_every_s = self._visibility_s / 3
        renewed_at = extended_at = self._clock.monotonic()
        while not self._clock.wait(self._stop, min(CONTROL_TICK_S, renew_every_s, extend_every_s)):
            self._control()
            if self._clock.monotonic() - renewed_at >= renew_every_s:
                renewed_at = self._clock.monotonic()
                self.renew_lease()
            if self._clock.monotonic() - extended_at < extend_every_s:
                continue
            extended_at = self._clock.monotonic()
            with self._lock:
                msg_ids = sorted(self._in_flight)
            if not msg_ids:
                continue
            try:
                self._queue.extend(msg_ids, self._visibility_s)
            except Exception:
                log.exception("could not extend visibility of %s", msg_ids)

    def _control(self) -> None:
        with self._lock:
            watched = list(self._watched.values())
        if not watched:
            return
        reports = []
        for claim, control in watched:
            latest = control.take_progress()
            if latest is not None:
                done, total, message = latest
                reports.append(
                    ProgressReport(claim.message.job_id, claim.attempt, done, total, message)
                )
        try:
            self._queue.report_progress(reports)
            asked = self._queue.cancel_requested([c.message.job_id for c, _ in watched])
        except Exception:
            log.exception("could not write progress or read cancel requests")
            return
        for claim, control in watched:
            if claim.message.job_id in asked and not control.cancel_event.is_set():
                log.info("cancel requested", extra={"job_id": claim.message.job_id})
                control.cancel_event.set()


@dataclass(frozen=True)
class _Running:
    """A task in flight: when it must stop, and whether that is the invocation's doing."""

    claim: Claim
    limit_s: float
    stop_at: float
    cut_short: bool  # the invocation's deadline comes before the task's own limit
    control: TaskControl = field(default_factory=TaskControl)


class Worker:
    """Drains work_queue. ``clock`` and ``draw`` (the backoff's random source, in [0, 1)) are
    there for tests to drive; ``queue`` must be usable from several threads."""

    def __init__(
        self,
        queue: WorkQueue,
        registry: TaskRegistry,
        policy: RetryPolicy,
        settings: WorkerSettings,
        clock: Clock | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.policy = policy
        self.settings = settings
        self.clock = clock or SystemClock()
        self.draw = draw

    def drain(self, deadline: float, wake_id: str | None = None) -> DrainReport:
        """Process visible messages until none is left or no task could finish before
        ``deadline`` (a reading of this worker's clock).

        Woken by a wake-up (``wake_id``), the worker takes it as its lease, and drains nothing
        when it was taken before: a replayed call starts no second run. A retry this call
        scheduled soon enough is waited for, so a failing task's attempts run without needing
        another wake-up.
        """
        lease_s = self.settings.lease_s
        if wake_id is None:
            holder = uuid.uuid4().hex
            self.queue.hold(holder, lease_s)
        elif self.queue.take_wake_up(wake_id, lease_s):
            holder = wake_id
        else:
            log.info("wake-up %s was taken before: nothing to drain for it", wake_id)
            return DrainReport()
        # Not a with-block: shutting down must not wait for a task that overran its time limit.
        pool = ThreadPoolExecutor(self.settings.batch_size, thread_name_prefix="task")
        left = False
        try:
            with _Heartbeat(
                self.queue, self.settings.visibility_s, lease_s, self.clock, holder
            ) as heartbeat:
                drain = _Drain(self, pool, heartbeat, deadline, holder)
                report = drain.run()
                left = drain.left
                return report
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            # The heartbeat (and its lease renewals) has stopped by now.
            if not left:
                # Out of time or failed: still release the lease, and have the database wake
                # another worker for whatever is visible.
                try:
                    self.queue.leave(holder, lease_s, stay=False)
                except Exception:
                    log.exception("could not leave the queue; the lease lapses in %g s", lease_s)

    def time_limit(self, claim: Claim) -> float:
        return self.registry.time_limit(
            kind_of(claim.payload), self.settings.task_settings, self.settings.task_timeout_s
        )

    def run_task(self, claim: Claim, control: TaskControl | None = None) -> Any:
        function = self.registry.resolve(kind_of(claim.payload))
        return function(
            TaskContext(
                job_id=claim.message.job_id,
                task_name=claim.task_name,
                payload=claim.payload,
                attempt=claim.attempt,
                settings=self.settings.task_settings,
                control=control or TaskControl(),
            )
        )

    def outcome(self, run: _Running, future: Future[Any]) -> Outcome:
        claim = run.claim
        if run.control.cancel_event.is_set() and not (future.done() and future.exception() is None):
            # Asked to stop: whether the task noticed (it raised) or was stopped at its
            # deadline, the job ends cancelled, never retried. A result it still produced wins.
            return Outcome(claim, JobStatus.CANCELLED, None, CANCELLED)
        if not future.done():
            if run.cut_short:
                error = "stopped at the invocation's deadline"
                return Outcome(claim, JobStatus.FAILED, None, error, Failure.INTERRUPTED)
            error = f"timed out after {run.limit_s:g} s"
            return Outcome(claim, JobStatus.FAILED, None, error, Failure.TIMED_OUT)
        try:
            result = future.result()
        except JobCancelled:
            return Outcome(claim, JobStatus.CANCELLED, None, CANCELLED)
        except UnknownTask as exc:
            return Outcome(claim, JobStatus.FAILED, None, str(exc), Failure.PERMANENT)
        except Exception as exc:
            log.warning(
                "attempt %d raised\n%s",
                claim.attempt,
                "".join(traceback.format_exception(exc)),
                extra={"job_id": claim.message.job_id},
            )
            return Outcome(claim, JobStatus.FAILED, None, describe_error(exc), Failure.RAISED)
        return Outcome(claim, JobStatus.COMPLETED, render_result(result), None)


class _Drain:
    """One call of ``Worker.drain``: its deadline, its tally, and whether time ran out."""

    def __init__(
        self,
        worker: Worker,
        pool: ThreadPoolExecutor,
        heartbeat: _Heartbeat,
        deadline: float,
        holder: str,
    ) -> None:
        self.worker = worker
        self.holder = holder
        self.left = False  # whether the lease was given up by leave()
        self.queue = worker.queue
        self.clock = worker.clock
        self.pool = pool
        self.heartbeat = heartbeat
        self.deadline = deadline
        self.budget_s = deadline - self.clock.monotonic()
        self.report = DrainReport()
        self.shortest_s = worker.registry.shortest_limit(
            worker.settings.task_settings, worker.settings.task_timeout_s
        )
        # Set once anything was handed back for want of time: claiming again would only
        # fetch the same messages.
        self.out_of_time = False
        self.task_ended = threading.Event()
        self.idle = threading.Event()  # never set: waiting on it is waiting for time to pass

    def room_for(self, limit_s: float, at: float | None = None) -> bool:
        start = self.clock.monotonic() if at is None else at
        return start + limit_s <= self.deadline

    def fits(self, claim: Claim) -> bool:
        exhausted = claim.attempt > self.worker.policy.max_attempts  # fails without running
        return exhausted or self.room_for(self.worker.time_limit(claim))

    def run(self) -> DrainReport:
        settings = self.worker.settings
        next_retry_at: float | None = None
        idle_since: float | None = None  # when the queue was last found empty
        while not self.out_of_time and self.room_for(self.shortest_s):
            wait_s = 0.0
            if idle_since is not None and next_retry_at is None:
                # The warm fast path: wait in the claim for new work, up to the linger.
                wait_s = min(
                    idle_since + settings.idle_linger_s - self.clock.monotonic(),
                    self.deadline - self.shortest_s - self.clock.monotonic(),
                    CLAIM_WAIT_MAX_S,
                )
            batch = self.queue.claim(
                self.holder, settings.batch_size, settings.visibility_s, max(0.0, wait_s)
            )
            self.report.skipped += batch.skipped
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
                if now < idle_since + settings.idle_linger_s and self.room_for(self.shortest_s):
                    continue
                if self.leave():
                    idle_since = None
                    continue
                break
            idle_since = None
            for retry_at in self.run_batch(batch):
                if retry_at - self.clock.monotonic() <= settings.linger_s:
                    next_retry_at = (
                        retry_at if next_retry_at is None else min(next_retry_at, retry_at)
                    )
        return self.report

    def leave(self) -> bool:
        """Give up the lease and look once more; True when work arrived and there is time for
        it (the lease is then kept)."""
        stay = not self.out_of_time and self.room_for(self.shortest_s)
        self.heartbeat.renewing(False)
        if self.queue.leave(self.holder, self.worker.settings.lease_s, stay):
            self.heartbeat.renewing(True)
            return True
        self.left = True
        return False

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
            suspect = self.queue.start(self.holder, message)
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
        pending: dict[Future[Any], _Running] = {}
        exhausted: list[Outcome] = []
        for claim in claims:
            if claim.attempt > self.worker.policy.max_attempts:
                # Earlier attempts died without recording anything (a crash or a kill).
                error = f"gave up after {claim.attempt - 1} attempts that never finished"
                exhausted.append(Outcome(claim, JobStatus.FAILED, None, error, Failure.PERMANENT))
        self.finish(exhausted)
        for claim in claims:
            if claim.attempt > self.worker.policy.max_attempts:
                continue
            # Started even when the time left has shrunk since it was found to fit (a slow
            # statement in between): most tasks end well within their limit, and one that
            # does not is handed back at the deadline, its attempt uncounted.
            limit_s = self.worker.time_limit(claim)
            own_end = self.clock.monotonic() + limit_s
            control = TaskControl()
            self.heartbeat.watch(claim, control)
            future = self.pool.submit(self.worker.run_task, claim, control)
            future.add_done_callback(lambda _: self.task_ended.set())
            pending[future] = _Running(
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
                outcome = self.worker.outcome(run, future)
                if outcome.failure is None:
                    finished.append(outcome)
                    continue
                step = next_step(
                    run.claim.attempt, outcome.failure, self.worker.policy, self.worker.draw
                )
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
            limit_s = self.worker.time_limit(claim)
            if limit_s > self.budget_s:
                log.warning(
                    "task %r declares %g s, more than this invocation's whole %g s: it can"
                    " only run in a longer one",
                    kind_of(claim.payload),
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

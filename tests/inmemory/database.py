"""The database in memory: jobs, queue messages, events, idempotency keys, leases and task kinds
in one world, with a method per SQL function (``submit_job``, ``claim_jobs``, ...), each keeping
that function's rules.

The rules are read from ``supabase/migrations/*.sql`` and ``functions/db/queries.py``; the
contract tests (``tests/test_job_store_contract.py``, ``tests/test_work_queue_contract.py``)
hold this and Postgres to the same behaviour through the ports (``tests/inmemory/ports.py``).
As there, every write goes through ``_write``, which settles a cancel request (the
``job_results_settle_cancel`` trigger) and records the transition in the job's events
(``record_job_event``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from functions.core import validation
from functions.core.clock import SystemClock
from functions.core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidInput
from functions.core.models import (
    Claim,
    ClaimedBatch,
    Job,
    JobEvent,
    JobStatus,
    Outcome,
    ProgressReport,
    QueueMessage,
    TaskKind,
)
from functions.core.ports import Clock
from functions.core.tasks import DEFAULT_KIND
from tests.inmemory.tables import IdempotencyKey, Item, JobRow, Message, digest

IDEMPOTENCY_TTL_S = 24 * 3600  # as expires_at's default in the migration
MAX_AHEAD = timedelta(days=30)  # submit_job's limit on run_at
WAKE_WINDOW_S = 10.0  # how long a wake-up on its way counts as a worker (private.send_wakeup)
MAX_WORKERS = 5  # private.max_workers() with no setting
# The queue trigger's WHEN clause: a message due over a second from now wakes nobody (the
# sweeper does, when it is due).
WAKE_HORIZON_S = 1.0
_POLL_S = 0.002  # how often a waiting claim looks again (the SQL polls every millisecond)
_LIVE = (JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.RUNNING)


@dataclass
class InMemoryDatabase:
    """``clock`` moves visibility and leases (tests drive it with a FakeClock); ``wall`` stamps
    rows and expires idempotency keys. ``in_flight`` holds keys whose first request is "still
    running"; ``unavailable`` makes the ports fail as a database that is down does."""

    clock: Clock = field(default_factory=SystemClock)
    wall: Callable[[], float] = time.time
    jobs: dict[UUID, JobRow] = field(default_factory=dict)
    queue: dict[int, Message] = field(default_factory=dict)
    archive: dict[int, Message] = field(default_factory=dict)
    events: dict[UUID, list[JobEvent]] = field(default_factory=dict)
    keys: dict[str, IdempotencyKey] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    kinds: dict[str, TaskKind] = field(default_factory=dict)
    leases: dict[str, float] = field(default_factory=dict)  # holder -> expiry, on ``clock``
    wake_ups: list[dict[str, Any]] = field(default_factory=list)  # webhook bodies sent
    taken: dict[str, bool] = field(default_factory=dict)  # private.wake_ups: id -> taken
    max_workers: int = MAX_WORKERS
    unavailable: bool = False
    _next_msg_id: int = 1
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _arrived: threading.Event = field(default_factory=threading.Event)

    # -- rows, events and messages ---------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    def _write(self, row: JobRow, **changes: Any) -> None:
        """An UPDATE of job_results with its two triggers."""
        old = replace(row)
        for name, value in changes.items():
            setattr(row, name, value)
        if (
            row.cancel_requested
            and old.status == JobStatus.RUNNING
            and row.status in (JobStatus.PENDING, JobStatus.FAILED)
        ):
            row.status = JobStatus.CANCELLED  # job_results_settle_cancel
            row.finished_at = row.finished_at or self._now()
        row.updated_at = self._now()
        self._record(old, row)

    def _record(self, old: JobRow | None, new: JobRow) -> None:
        """record_job_event: one event a transition or attempt."""
        detail: str | None = None
        if old is None:
            event = "scheduled" if new.status == JobStatus.SCHEDULED else "submitted"
            if new.run_at is not None and new.status == JobStatus.SCHEDULED:
                detail = f"due at {new.run_at.isoformat()}"
        elif new.run != old.run:
            event = "retried"
        elif new.status == JobStatus.RUNNING and new.attempts > old.attempts:
            event = "started"
        elif old.status == JobStatus.RUNNING and new.status == JobStatus.PENDING:
            event = "handed_back" if new.attempts < old.attempts else "retrying"
            detail = new.error
        elif new.status != old.status and new.status.is_terminal:
            event, detail = new.status.value, new.error
        elif new.cancel_requested and not old.cancel_requested:
            event = "cancel_requested"
        else:
            return
        self.events.setdefault(new.job_id, []).append(
            JobEvent(
                new.run,
                new.attempts,
                event,
                new.status.value,
                detail,
                self._now(),
                event_id=sum(map(len, self.events.values())) + 1,
            )
        )

    def _held(self, now: float) -> bool:
        return any(expiry > now for expiry in self.leases.values())

    def _live(self, now: float) -> int:
        return sum(expiry > now for expiry in self.leases.values())

    def wake_workers(self, wanted: int) -> int:
        """private.wake_workers: a wake-up for each worker missing below min(wanted, the
        ceiling), each holding a lease of its own id until its worker arrives."""
        with self._lock:
            now = self.clock.monotonic()
            sent = 0
            for _ in range(min(wanted, self.max_workers) - self._live(now)):
                wake_id = "wake_" + uuid4().hex
                self.leases[wake_id] = now + WAKE_WINDOW_S
                self.taken[wake_id] = False
                self.wake_ups.append({"wake_id": wake_id})
                sent += 1
            return sent

    def _workers_wanted(self, batch_size: int, now: float) -> int:
        """private.workers_wanted: a worker a batch of first deliveries, one a redelivery."""
        visible = sorted(
            (m for m in self.queue.values() if m.visible_at <= now), key=lambda m: m.msg_id
        )[: self.max_workers * batch_size]
        firsts = sum(m.read_count == 0 for m in visible)
        return -(-firsts // max(batch_size, 1)) + len(visible) - firsts

    def _send(self, row: JobRow, delay_s: float) -> None:
        """pgmq.send and the queue's AFTER INSERT trigger."""
        now = self.clock.monotonic()
        message = Message(self._next_msg_id, row.job_id, now + max(0.0, delay_s))
        self._next_msg_id += 1
        self.queue[message.msg_id] = message
        row.msg_id = message.msg_id
        if delay_s <= WAKE_HORIZON_S and not self._held(now):
            self.wake_workers(1)
        self._arrived.set()

    def _archive(self, msg_id: int) -> None:
        message = self.queue.pop(msg_id, None)
        if message is not None:
            self.archive[msg_id] = message

    # -- submit_job, submit_jobs -----------------------------------------------------------

    def submit_job(
        self,
        task_name: Any,
        payload: Any = None,
        idempotency_key: str | None = None,
        run_at: datetime | None = None,
        delay_seconds: float | None = None,
        kind: str | None = None,
        owner_id: UUID | None = None,
    ) -> UUID:
        """public.submit_job: one job, pending (scheduled when it starts later), and its
        message, in one step; ``owner_id`` is what auth.uid() names."""
        request: dict[str, Any] = {
            "task_name": task_name,
            "kind": kind or DEFAULT_KIND,
            "payload": payload,
        }
        if run_at is not None and delay_seconds is not None:
            raise InvalidInput("give run_at or delay_seconds, not both")
        if delay_seconds is not None:
            validation.parse_delay(delay_seconds)
        if run_at is not None:
            request["run_at"] = run_at.astimezone(UTC).isoformat()
        elif delay_seconds is not None:
            request["delay_seconds"] = delay_seconds
        items = [Item(task_name, payload, kind)]
        return self._store(
            items, idempotency_key, digest(request), owner_id, run_at, delay_seconds
        )[0]

    def submit_jobs(
        self,
        items: Sequence[Item],
        idempotency_key: str | None = None,
        owner_id: UUID | None = None,
    ) -> list[UUID]:
        """public.submit_jobs: 1 to 1,000 jobs stored all or none, errors naming the item, one
        key for the whole batch; their ids in the items' order."""
        if not 1 <= len(items) <= validation.MAX_BATCH_JOBS:
            raise InvalidInput(f"items holds {len(items)} jobs; send 1 to 1000")
        fingerprint = digest(
            {
                "items": [
                    {"task_name": i.task_name, "kind": i.kind or DEFAULT_KIND, "payload": i.payload}
                    for i in items
                ]
            }
        )
        return self._store(list(items), idempotency_key, fingerprint, owner_id, None, None, True)

    def _store(
        self,
        items: list[Item],
        raw_key: str | None,
        fingerprint: str,
        owner_id: UUID | None,
        run_at: datetime | None,
        delay_s: float | None,
        batch: bool = False,
    ) -> list[UUID]:
        # The database's own checks, which hold whatever the caller validated; every item is
        # checked before anything is stored.
        checked = []
        for index, item in enumerate(items):
            try:
                name = validation.validate_task_name(item.task_name)
                payload = validation.validate_payload(item.payload)
            except InvalidInput as exc:
                if not batch:
                    raise
                # As submit_jobs says it; the field is read from the message, as PgJobStore does.
                message = f"items[{index}].{exc.message}"
                raise InvalidInput(message, validation.field_of(message)) from None
            checked.append((name, item.kind or DEFAULT_KIND, payload))
        key = validation.validate_idempotency_key(raw_key)
        with self._lock:
            now = self.wall()
            moment = datetime.fromtimestamp(now, UTC)
            if delay_s is not None:
                run_at = moment + timedelta(seconds=delay_s)
            if run_at is not None and run_at > moment + MAX_AHEAD:
                raise InvalidInput("run_at must be at most 30 days ahead")
            if key is not None:
                if key in self.in_flight:
                    raise IdempotencyKeyInFlight(
                        "a request with this Idempotency-Key is still being processed;"
                        " retry shortly"
                    )
                seen = self.keys.get(key)
                if seen is not None and seen.expires_at > now:
                    if seen.fingerprint == fingerprint:
                        return list(seen.job_ids)
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was first used with a different request"
                    )
                self.keys = {k: v for k, v in self.keys.items() if v.expires_at > now}
            scheduled = run_at is not None and run_at > moment
            wait_s = (run_at - moment).total_seconds() if run_at is not None and scheduled else 0
            job_ids = []
            for name, kind, payload in checked:
                row = JobRow(
                    job_id=uuid4(),
                    task_name=name,
                    kind=kind,
                    payload=dict(payload),
                    status=JobStatus.SCHEDULED if scheduled else JobStatus.PENDING,
                    created_at=moment,
                    updated_at=moment,
                    owner_id=owner_id,
                    run_at=run_at if scheduled else None,
                )
                self.jobs[row.job_id] = row
                self._send(row, wait_s)
                self._record(None, row)
                job_ids.append(row.job_id)
            if key is not None:
                self.keys[key] = IdempotencyKey(
                    fingerprint, tuple(job_ids), now + IDEMPOTENCY_TTL_S
                )
            return job_ids

    # -- the API's reads -------------------------------------------------------------------

    def _owned_by(self, job_id: UUID, owner_id: UUID | None) -> JobRow | None:
        # As the API's queries: another owner's job (or an owned one, for owner None) is absent.
        row = self.jobs.get(job_id)
        return row if row is not None and row.owner_id == owner_id else None

    def get_job(self, job_id: UUID, owner_id: UUID | None = None) -> Job | None:
        """GET_PUBLIC_JOB / GET_OWN_JOB."""
        with self._lock:
            row = self._owned_by(job_id, owner_id)
            return row.job() if row else None

    def newest_jobs(
        self, limit: int, status: JobStatus | None = None, owner_id: UUID | None = None
    ) -> list[Job]:
        """NEWEST_PUBLIC_JOBS / NEWEST_OWN_JOBS: newest first, then by job_id."""
        with self._lock:
            chosen = [
                r
                for r in self.jobs.values()
                if r.owner_id == owner_id and (status is None or r.status == status)
            ]
            ordered = sorted(chosen, key=lambda r: str(r.job_id))
            ordered.sort(key=lambda r: r.created_at, reverse=True)
            return [r.job() for r in ordered[:limit]]

    def job_events(self, job_id: UUID, owner_id: UUID | None = None) -> list[JobEvent]:
        """JOB_EVENTS: the job's history, if it belongs to ``owner_id``."""
        with self._lock:
            if self._owned_by(job_id, owner_id) is None:
                return []
            return list(self.events.get(job_id, []))

    # -- cancel_job, retry_job -------------------------------------------------------------

    def cancel_job(self, job_id: UUID, owner_id: UUID | None = None) -> JobStatus | None:
        """public.cancel_job: a job not yet running is cancelled and its message archived; a
        running one is marked for its worker. The status before; None: no such job."""
        with self._lock:
            row = self._owned_by(job_id, owner_id)
            if row is None:
                return None
            before = row.status
            if before in (JobStatus.PENDING, JobStatus.SCHEDULED):
                self._archive(row.msg_id)
                self._write(row, status=JobStatus.CANCELLED, finished_at=self._now())
            elif before == JobStatus.RUNNING and not row.cancel_requested:
                self._write(row, cancel_requested_at=self._now())
            return before

    def retry_job(self, job_id: UUID, owner_id: UUID | None = None) -> JobStatus | None:
        """public.retry_job: a failed or cancelled job runs again as a new run on a new message
        (the old one, if still queued, archived), attempts afresh. The status before."""
        with self._lock:
            row = self._owned_by(job_id, owner_id)
            if row is None:
                return None
            before = row.status
            if not before.retryable:
                return before
            self._archive(row.msg_id)
            self._send(row, 0.0)
            self._write(
                row,
                status=JobStatus.PENDING,
                run=row.run + 1,
                attempts=0,
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
            return before

    # -- the worker's: claim_jobs, start_attempt, finish_attempts, ... ---------------------

    def claim_jobs(
        self,
        holder: str,
        batch_size: int,
        visibility_s: int,
        wait_s: float = 0.0,
        scale: bool = True,
    ) -> ClaimedBatch:
        """private.claim_jobs: visible messages made invisible for ``visibility_s``; first
        deliveries started for ``holder``, finished jobs' messages archived (skipped),
        redeliveries returned unstarted. Waits up to ``wait_s`` for a message to be visible. A
        full batch with more visible behind it wakes the backlog's workers."""
        until = self.clock.monotonic() + wait_s
        while True:
            self._arrived.clear()
            batch = self._claim(holder, batch_size, visibility_s)
            left = until - self.clock.monotonic()
            if batch != ClaimedBatch([], [], 0) or left <= 0:
                break
            self.clock.wait(self._arrived, min(left, _POLL_S))
        with self._lock:
            now = self.clock.monotonic()
            if scale and self._live(now) < self.max_workers:
                self.wake_workers(self._workers_wanted(batch_size, now) + 1)
        return batch

    def _claim(self, holder: str, batch_size: int, visibility_s: int) -> ClaimedBatch:
        with self._lock:
            now = self.clock.monotonic()
            ordered = sorted(self.queue.values(), key=lambda m: m.msg_id)
            visible = [m for m in ordered if m.visible_at <= now][:batch_size]
            # At most one redelivery a claim: it runs alone, the others stay for other workers.
            again = [m for m in visible if m.read_count > 0]
            visible = [m for m in visible if m.read_count == 0 or m is again[0]]
            started: list[Claim] = []
            suspects: list[QueueMessage] = []
            skipped = 0
            for entry in visible:
                entry.visible_at = now + visibility_s
                entry.read_count += 1
                message = QueueMessage(entry.msg_id, entry.job_id, entry.read_count)
                if message.read_count > 1:
                    suspects.append(message)
                    continue
                claim = self._start(holder, message)
                if claim is None:
                    skipped += 1
                else:
                    started.append(claim)
            return ClaimedBatch(started, suspects, skipped)

    def start_attempt(self, holder: str, message: QueueMessage) -> Claim | None:
        """Start a redelivered message's job for a new attempt held by ``holder``; None (and
        the message archived) when the job has finished or the message is no longer its
        current one."""
        with self._lock:
            return self._start(holder, message)

    def _start(self, holder: str, message: QueueMessage) -> Claim | None:
        row = self.jobs.get(message.job_id)
        if row is None or row.msg_id != message.msg_id or row.status not in _LIVE:
            self._archive(message.msg_id)
            return None
        self._write(
            row,
            status=JobStatus.RUNNING,
            attempts=row.attempts + 1,
            error=None,
            started_at=self._now(),
            claimed_by=holder,
        )
        return Claim(message, row.task_name, row.payload, row.attempts, row.kind)

    def _attempt(self, job_id: UUID, attempt: int) -> JobRow | None:
        """The job, if ``attempt`` still owns it (running, at that attempt)."""
        row = self.jobs.get(job_id)
        if row is None or row.status != JobStatus.RUNNING or row.attempts != attempt:
            return None
        return row

    def finish_attempts(self, outcomes: Sequence[Outcome]) -> set[int]:
        """Record final outcomes and archive their messages at once; the msg_ids recorded."""
        recorded: set[int] = set()
        with self._lock:
            for outcome in outcomes:
                row = self._attempt(outcome.claim.message.job_id, outcome.claim.attempt)
                if row is None:
                    continue
                self._write(
                    row,
                    status=outcome.status,
                    result=outcome.result,
                    error=outcome.error,
                    finished_at=self._now(),
                    writes=row.writes + 1,
                )
                self._archive(outcome.claim.message.msg_id)
                recorded.add(outcome.claim.message.msg_id)
        return recorded

    def retry_attempt(self, claim: Claim, error: str, delay_s: float) -> bool:
        """The job back to pending with ``error``, its message visible after ``delay_s``."""
        with self._lock:
            row = self._attempt(claim.message.job_id, claim.attempt)
            message = self.queue.get(claim.message.msg_id)
            if row is None or message is None:
                return False
            self._write(row, status=JobStatus.PENDING, error=error)
            message.visible_at = self.clock.monotonic() + max(0.0, delay_s)
            return True

    def hand_back(self, claims: Sequence[Claim], unstarted: Sequence[QueueMessage]) -> set[int]:
        """Messages visible at once with the read count they had, a started job back to pending
        with its attempt uncounted; only what the caller still owns. The msg_ids handed back."""
        handed: set[int] = set()
        with self._lock:
            returned = [(c.message, c) for c in claims] + [(m, None) for m in unstarted]
            for message, claim in returned:
                entry = self.queue.get(message.msg_id)
                if entry is None or entry.read_count != message.read_count:
                    continue
                if claim is not None:
                    row = self._attempt(claim.message.job_id, claim.attempt)
                    if row is None:
                        continue
                    self._write(row, status=JobStatus.PENDING, attempts=row.attempts - 1)
                entry.visible_at = self.clock.monotonic()
                entry.read_count -= 1
                handed.add(message.msg_id)
        return handed

    def extend_visibility(self, msg_ids: Sequence[int], visibility_s: int) -> None:
        with self._lock:
            for msg_id in msg_ids:
                if msg_id in self.queue:
                    self.queue[msg_id].visible_at = self.clock.monotonic() + visibility_s

    def report_progress(self, reports: Sequence[ProgressReport]) -> None:
        """Each running attempt's latest progress; an attempt that lost its job changes nothing."""
        with self._lock:
            for report in reports:
                row = self._attempt(report.job_id, report.attempt)
                if row is None:
                    continue
                row.progress, row.progress_total = report.done, report.total
                row.progress_message = report.message
                row.progress_writes += 1

    def cancel_requested(self, job_ids: Sequence[UUID]) -> set[UUID]:
        with self._lock:
            return {j for j in job_ids if j in self.jobs and self.jobs[j].cancel_requested}

    # -- the wake-up lease -----------------------------------------------------------------

    def hold_work_queue(self, holder: str, lease_s: float) -> None:
        with self._lock:
            self.leases[holder] = self.clock.monotonic() + lease_s

    def take_wake_up(self, wake_id: str, lease_s: float) -> bool:
        """private.take_wake_up: the first taker holds it as its lease; a replay gets False."""
        with self._lock:
            if self.taken.get(wake_id, True):
                return False
            self.taken[wake_id] = True
            self.leases[wake_id] = self.clock.monotonic() + lease_s
            return True

    def leave_work_queue(self, holder: str, lease_s: float, stay: bool) -> bool:
        """Drop the lease and look once more: work visible, stay (True) or make sure a worker
        is on its way."""
        with self._lock:
            now = self.clock.monotonic()
            self.leases.pop(holder, None)
            if not any(m.visible_at <= now for m in self.queue.values()):
                return False
            if stay:
                self.leases[holder] = now + lease_s
                return True
            self.wake_workers(1)
            return False

    def sweep(self, batch_size: int = 10) -> dict[str, int]:
        """private.sweep: lapsed leases dropped and their attempts' messages made visible, then
        workers woken for what is visible."""
        with self._lock:
            now = self.clock.monotonic()
            dead = {h for h, expiry in self.leases.items() if expiry <= now}
            for holder in dead:
                del self.leases[holder]
            released = 0
            for row in self.jobs.values():
                message = self.queue.get(row.msg_id)
                if (
                    row.status == JobStatus.RUNNING
                    and row.claimed_by in dead
                    and message is not None
                    and message.visible_at > now
                ):
                    message.visible_at = now
                    released += 1
            woken = 0
            if any(m.visible_at <= now for m in self.queue.values()):
                woken = self.wake_workers(self._workers_wanted(batch_size, now))
            return {"dead_leases": len(dead), "released": released, "woken": woken}

    # -- task kinds ------------------------------------------------------------------------

    def publish_kinds(self, kinds: Sequence[TaskKind]) -> None:
        """Add or update these kinds; others stay (another worker version may run them)."""
        with self._lock:
            self.kinds.update({k.kind: k for k in kinds})

    def list_kinds(self) -> dict[str, TaskKind]:
        with self._lock:
            return dict(sorted(self.kinds.items()))

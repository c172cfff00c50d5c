"""The heartbeat thread: keeps claimed messages invisible, renews the lease, writes progress and
passes cancel requests to running tasks."""

from __future__ import annotations

import logging
import threading

from functions.core.models import Claim, ProgressReport
from functions.core.ports import Clock, WorkQueue
from functions.core.tasks import TaskControl
from functions.worker.lease import Lease

log = logging.getLogger("functions.worker")

# The heartbeat's beat: each one writes the tasks' latest progress (so at most this many
# writes a second per job, 2, the latest report winning) and looks for cancel requests (so a
# running task learns of one within about this long plus a statement).
CONTROL_TICK_S = 0.5


class Heartbeat:
    """The only thread besides the claimer that talks to the database (task threads never do)."""

    def __init__(self, queue: WorkQueue, lease: Lease, visibility_s: int, clock: Clock) -> None:
        self._queue = queue
        self._lease = lease
        self._visibility_s = visibility_s
        self._clock = clock
        self._in_flight: set[int] = set()
        self._watched: dict[int, tuple[Claim, TaskControl]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

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
        # The lease and the claimed messages' visibility are each renewed a third of the way
        # through, on their own periods; progress and cancel requests every beat.
        renew_every_s = self._lease.lease_s / 3
        extend_every_s = self._visibility_s / 3
        renewed_at = extended_at = self._clock.monotonic()
        beat_s = min(CONTROL_TICK_S, renew_every_s, extend_every_s)
        while not self._clock.wait(self._stop, beat_s):
            self._control()
            if self._clock.monotonic() - renewed_at >= renew_every_s:
                renewed_at = self._clock.monotonic()
                self._lease.renew()
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

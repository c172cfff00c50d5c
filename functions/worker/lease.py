"""The worker's wake-up lease: held while it drains, renewed by the heartbeat, left when done.

While any lease is live, enqueuing wakes no worker; leaving is atomic with every enqueuer that
saw the lease (``WorkQueue.leave``), so no wake-up is lost.
"""

from __future__ import annotations

import logging
import threading

from functions.core.ports import WorkQueue

log = logging.getLogger("functions.worker")


class Lease:
    """One drain's lease on the queue, ``lease_s`` long, under ``holder``: the wake-up's id
    when a wake-up started the drain, a name of its own otherwise."""

    def __init__(self, queue: WorkQueue, lease_s: float, holder: str) -> None:
        self._queue = queue
        self.lease_s = lease_s
        self.holder = holder
        # Renewals stop before the worker leaves: one landing after the leave would hold the
        # queue for a worker that is gone.
        self._lock = threading.Lock()
        self._renewing = True
        self.left = False  # whether leave() gave the lease up

    def hold(self) -> None:
        """Take the lease (a failure here fails the drain: it has not started)."""
        self._queue.hold(self.holder, self.lease_s)

    def take(self) -> bool:
        """Take the wake-up ``holder`` names as this lease; False when it was taken before (a
        replayed call): then there is nothing to drain and nothing to release."""
        if self._queue.take_wake_up(self.holder, self.lease_s):
            return True
        self.left = True
        return False

    def renew(self) -> None:
        with self._lock:
            if not self._renewing:
                return
            try:
                self._queue.hold(self.holder, self.lease_s)
            except Exception:
                log.exception("could not renew the wake-up lease")

    def _renewals(self, on: bool) -> None:
        # Waits for a renewal in progress, so none lands after the leave.
        with self._lock:
            self._renewing = on

    def leave(self, stay: bool) -> bool:
        """Give up the lease and look once more; True when work arrived and ``stay`` (the lease
        is then kept and renewed again)."""
        self._renewals(False)
        if self._queue.leave(self.holder, self.lease_s, stay):
            self._renewals(True)
            return True
        self.left = True
        return False

    def release(self) -> None:
        """Leave without staying, unless already left: a drain that ran out of time or failed
        still frees the queue, and the database wakes another worker for what is visible."""
        if self.left:
            return
        self._renewals(False)
        try:
            self._queue.leave(self.holder, self.lease_s, stay=False)
        except Exception:
            log.exception("could not leave the queue; the lease lapses in %g s", self.lease_s)

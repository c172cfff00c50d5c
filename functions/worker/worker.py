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

import logging
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from functions.core.clock import SystemClock
from functions.core.models import DrainReport
from functions.core.ports import Clock, WorkQueue
from functions.core.retry import RetryPolicy
from functions.core.tasks import TaskRegistry
from functions.worker.drain import Drain
from functions.worker.heartbeat import Heartbeat
from functions.worker.lease import Lease
from functions.worker.run import Runner
from functions.worker.settings import WorkerSettings

log = logging.getLogger("functions.worker")


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
        self.runner = Runner(registry, settings)

    def drain(self, deadline: float, wake_id: str | None = None) -> DrainReport:
        """Process visible messages until none is left or no task could finish before
        ``deadline`` (a reading of this worker's clock).

        Woken by a wake-up (``wake_id``), the worker takes it as its lease, and drains nothing
        when it was taken before: a replayed call starts no second run. A retry this call
        scheduled soon enough is waited for, so a failing task's attempts run without needing
        another wake-up.
        """
        lease = Lease(self.queue, self.settings.lease_s, wake_id or uuid.uuid4().hex)
        if wake_id is None:
            lease.hold()
        elif not lease.take():
            log.info("wake-up %s was taken before: nothing to drain for it", wake_id)
            return DrainReport()
        # Not a with-block: shutting down must not wait for a task that overran its time limit.
        pool = ThreadPoolExecutor(self.settings.batch_size, thread_name_prefix="task")
        try:
            with Heartbeat(self.queue, lease, self.settings.visibility_s, self.clock) as heartbeat:
                return Drain(self, pool, heartbeat, lease, deadline).run()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            # The heartbeat (and its lease renewals) has stopped by now.
            lease.release()

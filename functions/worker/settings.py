"""The worker's settings: one name per setting, read once by process_job from the config."""

from __future__ import annotations

from dataclasses import dataclass, field

from functions.core import defaults
from functions.core.tasks import TaskSettings


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = defaults.BATCH_SIZE
    visibility_s: int = defaults.VISIBILITY_S
    # How long a worker's lease lasts unrenewed (renewed every third of it): a dead worker is
    # noticed by the sweep this long after its last heartbeat.
    lease_s: float = 5.0
    task_timeout_s: float = defaults.TASK_TIMEOUT_S  # the limit of a kind that declares none
    retry_wait_s: float = 30.0  # a retry this drain scheduled, due within this long, is waited for
    # How long an idle worker keeps its lease and waits for new work (the warm fast path)
    # before it leaves; 0: it leaves as soon as the queue is empty.
    idle_linger_s: float = 0.0
    task_settings: TaskSettings = field(default_factory=TaskSettings)

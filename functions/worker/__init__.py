"""process_job's worker: a drain that claims, runs and records, split by role (lease, heartbeat,
run, drain); it talks to the database only through the ``WorkQueue`` port."""

from functions.core.models import DrainReport
from functions.worker.heartbeat import CONTROL_TICK_S
from functions.worker.settings import WorkerSettings
from functions.worker.worker import Worker

__all__ = ["CONTROL_TICK_S", "DrainReport", "Worker", "WorkerSettings"]

"""The task the dispatch benchmark registers in process_job (``TASK_MODULES=bench.tasks``): it
notes the moment it starts, before anything else."""

from __future__ import annotations

import time

from bench.marks import NOTIFY, payload
from functions.config import Database
from functions.core.tasks import TaskContext, registry
from functions.db.connections import connection
from functions.once import PerProcess

# process_job's own database, read once per process as process_job reads it.
_database = PerProcess(Database.from_env)


@registry.task("bench_mark")
def bench_mark(ctx: TaskContext) -> str:
    started = time.time()
    with connection(_database.get()) as conn:
        conn.execute(NOTIFY, (payload(str(ctx.job_id), started),))
    return "marked"

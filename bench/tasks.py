"""The task the dispatch benchmark registers in process_job (``TASK_MODULES=bench.tasks``): it
notes the moment it starts, before anything else."""

from __future__ import annotations

import time

from bench.marks import NOTIFY, payload
from functions.config import database_url
from functions.core.tasks import TaskContext, registry
from functions.db.connections import connection


@registry.task("bench_mark")
def bench_mark(ctx: TaskContext) -> str:
    started = time.time()
    with connection(database_url()) as conn:
        conn.execute(NOTIFY, (payload(str(ctx.job_id), started),))
    return "marked"

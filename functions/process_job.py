"""The ``process_job`` function: drains work_queue. Target ``process_job`` (functions-framework,
called by the local invoker and the sweeper tick) and ``handler`` (AWS Lambda: asynchronous
invocations from the webhook and the scheduled sweeper)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from functions.adapters.entry import Entry
from functions.http.types import Handler
from functions.once import PerProcess

if TYPE_CHECKING:
    import flask

    from functions.config import WorkerConfig
    from functions.core.worker import Worker

# Time kept back from Lambda's limit so the last batch can record its outcome.
LAMBDA_MARGIN_S = 30.0


def _build_worker() -> tuple[Worker, WorkerConfig]:
    from functions import logs
    from functions.config import WorkerConfig
    from functions.core.retry import RetryPolicy
    from functions.core.tasks import load_task_modules, registry
    from functions.core.worker import Worker, WorkerSettings
    from functions.db.store import PgWorkQueue

    logs.configure()
    cfg = WorkerConfig.from_env()
    load_task_modules(list(cfg.task_modules))
    queue = PgWorkQueue(cfg.database_url)
    worker = Worker(
        queue_factory=lambda: queue,
        registry=registry,
        policy=RetryPolicy(cfg.max_attempts, cfg.retry_base_delay_s),
        settings=WorkerSettings(
            batch_size=cfg.batch_size,
            visibility_s=cfg.visibility_s,
            task_timeout_s=cfg.task_timeout_s,
            task_settings={"min_seconds": cfg.task_min_s, "max_seconds": cfg.task_max_s},
        ),
    )
    return worker, cfg


_worker = PerProcess(_build_worker)


def _build() -> Handler:
    from functions.http.process_api import ProcessJobApi

    worker, cfg = _worker.get()
    return ProcessJobApi(
        cfg.process_job_secret, lambda: worker.drain(time.monotonic() + cfg.max_run_s)
    ).handle


_entry = Entry(_build)


def process_job(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    return _entry.flask(request)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """An async invocation (the webhook's message) or a scheduled sweep: both drain the queue."""
    worker, cfg = _worker.get()
    budget = cfg.max_run_s
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        budget = min(budget, context.get_remaining_time_in_millis() / 1000 - LAMBDA_MARGIN_S)
    return worker.drain(time.monotonic() + max(1.0, budget)).to_json()

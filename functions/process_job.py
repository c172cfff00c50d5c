"""The ``process_job`` function: drains work_queue. Target ``process_job`` (functions-framework:
called by the local invoker and the sweeper tick; functions.gcp serves the same handler on Google
Cloud) and ``handler`` (AWS Lambda: asynchronous invocations from the webhook and the
scheduled sweeper)."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions.adapters.entry import Entry
from functions.http.types import Handler
from functions.once import PerProcess

if TYPE_CHECKING:
    import flask

    from functions.config import WorkerConfig
    from functions.core.models import DrainReport, TaskKind, WakeUp
    from functions.core.ports import KindCatalog
    from functions.tracing import Tracer
    from functions.worker import Worker

log = logging.getLogger("functions.process_job")

# Time kept back from Lambda's limit so the last batch can record its outcome.
LAMBDA_MARGIN_S = 30.0
LAMBDA_MARGIN_SHARE = 0.1


def _add_task_path(task_path: str) -> None:
    """Puts the user's task folder (TASK_PATH, relative to the folder holding ``functions/``:
    the zip's root on Lambda, the checkout locally) on the import path, once."""
    if not task_path:
        return
    import functions

    root = os.path.dirname(os.path.dirname(os.path.abspath(functions.__file__)))
    folder = os.path.join(root, task_path)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _build_worker() -> tuple[Worker, WorkerConfig]:
    from functions import logs
    from functions.config import WorkerConfig
    from functions.core.ports import WorkQueue
    from functions.core.retry import RetryPolicy
    from functions.core.tasks import TaskSettings, load_task_modules, registry
    from functions.db.store import PgKindCatalog, PgWorkQueue
    from functions.worker import Worker, WorkerSettings

    logs.configure()
    cfg = WorkerConfig.from_env()
    _add_task_path(cfg.task_path)
    load_task_modules(list(cfg.task_modules))
    task_settings = TaskSettings(cfg.task_min_s, cfg.task_max_s)
    _publish_kinds(
        PgKindCatalog(cfg.database), registry.describe(task_settings, cfg.task_timeout_s)
    )
    queue: WorkQueue = PgWorkQueue(cfg.database)
    tracer = _tracer.get()
    if tracer.on:
        from functions.traced_queue import TracedWorkQueue

        store = queue
        assert isinstance(store, PgWorkQueue)
        queue = TracedWorkQueue(store, tracer, store.traceparents, tracer.current)
    worker = Worker(
        queue=queue,
        registry=registry,
        policy=RetryPolicy(cfg.max_attempts, cfg.retry_base_delay_s),
        settings=WorkerSettings(
            batch_size=cfg.batch_size,
            visibility_s=cfg.visibility_s,
            task_timeout_s=cfg.task_timeout_s,
            idle_linger_s=cfg.idle_linger_s,
            task_settings=task_settings,
        ),
    )
    return worker, cfg


def _publish_kinds(catalog: KindCatalog, kinds: list[TaskKind]) -> None:
    """Tell submit which kinds this worker runs. A database that is down now does not stop the
    worker: the kinds were published by an earlier cold start or seeded by the migration, and
    the next cold start publishes again."""
    from functions.core.errors import Unavailable

    try:
        catalog.publish(kinds)
    except Unavailable as exc:
        log.warning("could not publish the task kinds: %s", exc.message)


def _new_tracer() -> Tracer:
    from functions.tracing import Tracer

    return Tracer()


_worker = PerProcess(_build_worker)
_tracer = PerProcess(_new_tracer)


def _drain(worker: Worker, deadline: float, wake_up: WakeUp | None) -> DrainReport:
    """Drain until ``deadline``, in a span under the wake-up's delivery when tracing."""
    wake_id = wake_up.wake_id if wake_up else None
    tracer = _tracer.get()
    if not tracer.on:
        return worker.drain(deadline, wake_id)
    parent = wake_up.traceparent if wake_up else None
    with tracer.span("drain", parent, server=True, wake_id=wake_id):
        return worker.drain(deadline, wake_id)


def drain_budget(max_run_s: float, limit_s: float | None) -> float:
    """How long one invocation drains: ``max_run_s``, and when the platform cuts the call off
    after ``limit_s`` (Lambda's remaining time, Google's function timeout or dispatch deadline)
    no later than that less a margin, so the last batch can record its outcome and the answer
    goes out in time."""
    if limit_s is None:
        return max_run_s
    # A short-lived invocation keeps a tenth back rather than all of it.
    return min(max_run_s, limit_s - min(LAMBDA_MARGIN_S, limit_s * LAMBDA_MARGIN_SHARE))


def http_handler(
    authorize: Callable[[str | None], object] | None = None, limit_s: float | None = None
) -> Handler:
    """The HTTP target's handler: ``authorize`` checks the caller instead of the bearer secret
    (Google Cloud: ID tokens), ``limit_s`` is how long the platform lets a call run."""
    from functions.http.process_api import ProcessJobApi

    worker, cfg = _worker.get()
    budget = drain_budget(cfg.max_run_s, limit_s)
    return ProcessJobApi(
        cfg.process_job_secret,
        lambda wake_up: _drain(worker, time.monotonic() + budget, wake_up),
        authorize=authorize,
    ).handle


def _build() -> Handler:
    return http_handler()


_entry = Entry(_build)


def process_job(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    return _entry.flask(request)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """An async invocation (the webhook's wake-up, honoured once) or a direct one: both drain
    the queue."""
    worker, cfg = _worker.get()
    start = time.monotonic()
    remaining = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = context.get_remaining_time_in_millis() / 1000
    budget = drain_budget(cfg.max_run_s, remaining)
    # The worker starts no task whose time limit does not fit in the budget, so a spent
    # invocation returns at once and leaves the queue for the next one.
    from functions.core.models import WakeUp
    from functions.core.trace_context import traceparent_of

    wake_id = event.get("wake_id") if isinstance(event, dict) else None
    wake_up = None
    if isinstance(wake_id, str):
        wake_up = WakeUp(wake_id, traceparent_of(event.get("traceparent")))
    return _drain(worker, start + budget, wake_up).to_json()

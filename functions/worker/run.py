"""Running one task: its time limit, the call in a pool thread, and how the attempt ended."""

from __future__ import annotations

import json
import logging
import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from functions.core.errors import UnknownTask
from functions.core.models import Claim, Failure, JobStatus, Outcome
from functions.core.tasks import JobCancelled, TaskContext, TaskControl, TaskRegistry
from functions.worker.settings import WorkerSettings

log = logging.getLogger("functions.worker")

MAX_ERROR_CHARS = 4000
CANCELLED = "cancelled on request"


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


def render_result(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


@dataclass(frozen=True)
class Running:
    """A task in flight: when it must stop, and whether that is the invocation's doing."""

    claim: Claim
    limit_s: float
    stop_at: float
    cut_short: bool  # the invocation's deadline comes before the task's own limit
    control: TaskControl = field(default_factory=TaskControl)


class Runner:
    """Runs claims' tasks from ``registry`` and judges how each attempt ended."""

    def __init__(self, registry: TaskRegistry, settings: WorkerSettings) -> None:
        self.registry = registry
        self.settings = settings

    def time_limit(self, claim: Claim) -> float:
        return self.registry.time_limit(
            claim.kind, self.settings.task_settings, self.settings.task_timeout_s
        )

    def run_task(self, claim: Claim, control: TaskControl | None = None) -> Any:
        function = self.registry.resolve(claim.kind)
        return function(
            TaskContext(
                job_id=claim.message.job_id,
                task_name=claim.task_name,
                payload=claim.payload,
                attempt=claim.attempt,
                settings=self.settings.task_settings,
                control=control or TaskControl(),
            )
        )

    def outcome(self, run: Running, future: Future[Any]) -> Outcome:
        claim = run.claim
        if run.control.cancel_event.is_set() and not (future.done() and future.exception() is None):
            # Asked to stop: whether the task noticed (it raised) or was stopped at its
            # deadline, the job ends cancelled, never retried. A result it still produced wins.
            return Outcome(claim, JobStatus.CANCELLED, None, CANCELLED)
        if not future.done():
            if run.cut_short:
                error = "stopped at the invocation's deadline"
                return Outcome(claim, JobStatus.FAILED, None, error, Failure.INTERRUPTED)
            error = f"timed out after {run.limit_s:g} s"
            return Outcome(claim, JobStatus.FAILED, None, error, Failure.TIMED_OUT)
        try:
            result = future.result()
        except JobCancelled:
            return Outcome(claim, JobStatus.CANCELLED, None, CANCELLED)
        except UnknownTask as exc:
            return Outcome(claim, JobStatus.FAILED, None, str(exc), Failure.PERMANENT)
        except Exception as exc:
            log.warning(
                "attempt %d raised\n%s",
                claim.attempt,
                "".join(traceback.format_exception(exc)),
                extra={"job_id": claim.message.job_id},
            )
            return Outcome(claim, JobStatus.FAILED, None, describe_error(exc), Failure.RAISED)
        return Outcome(claim, JobStatus.COMPLETED, render_result(result), None)

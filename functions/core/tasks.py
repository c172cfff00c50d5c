"""The task registry: a name maps to a function that does the work of one job, and the time
it may take.

The task a job runs is its ``kind`` (a column of the job; DEFAULT_KIND when the submission
names none); the job's ``task_name`` is the caller's own label for it.
"""

from __future__ import annotations

import importlib
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from functions.core import defaults, schemas
from functions.core.errors import UnknownTask
from functions.core.flow import FlowSettings
from functions.core.models import TaskKind

# The kind a job runs when its submission names none: written here only; the API puts it in
# and serves it (GET /kinds), the page and the client read it from there.
DEFAULT_KIND = "simulate"
# The built-in tasks that return at once still declare a limit, so a nearly spent invocation
# can run them; the margin covers a thread that is slow to be scheduled.
INSTANT_LIMIT_S = 5.0
# simulate sleeps at most its configured maximum; this covers the sleep's overshoot.
SIMULATE_OVERRUN_S = 1.0
# simulate reports its progress this often (the worker writes it at most twice a second).
SIMULATE_STEP_S = 0.25


@dataclass(frozen=True)
class TaskSettings:
    """Settings the built-in tasks read, from the worker's configuration."""

    simulate_min_s: float = defaults.SIMULATE_MIN_S
    simulate_max_s: float = defaults.SIMULATE_MAX_S


MAX_PROGRESS_MESSAGE_CHARS = 200


class JobCancelled(Exception):
    """Raised by ``TaskContext.check`` (and ``sleep``) once a person asked to cancel the job."""


Progress = tuple[float, float | None, str | None]


class TaskControl:
    """What a running task shares with its worker's heartbeat: the cancel flag the heartbeat
    sets, and the task's latest progress, which the heartbeat takes and writes (latest wins)."""

    def __init__(self) -> None:
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._latest: Progress | None = None

    def put_progress(self, progress: Progress) -> None:
        with self._lock:
            self._latest = progress

    def take_progress(self) -> Progress | None:
        """The progress reported since the last take, if any."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"progress {name} must be a finite number, not {value!r}")
    if value < 0:
        raise ValueError(f"progress {name} may not be negative")
    return float(value)


@dataclass(frozen=True)
class TaskContext:
    job_id: UUID
    task_name: str
    payload: dict[str, Any]
    attempt: int
    settings: TaskSettings = field(default_factory=TaskSettings)
    control: TaskControl = field(default_factory=TaskControl)

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report how far the task is: ``done`` of ``total`` (``total`` omitted when unknown).
        Cheap to call often: the worker writes the latest report at most twice a second."""
        done_f = _number("done", done)
        total_f = None if total is None else _number("total", total)
        text = None if message is None else str(message)[:MAX_PROGRESS_MESSAGE_CHARS]
        self.control.put_progress((done_f, total_f, text))

    @property
    def cancelled(self) -> bool:
        """Whether a person asked to cancel this job (seen within a second of the request)."""
        return self.control.cancel_event.is_set()

    def check(self) -> None:
        """Raise JobCancelled if the job was cancelled: call it between steps of work."""
        if self.cancelled:
            raise JobCancelled("cancelled on request")

    def sleep(self, seconds: float) -> None:
        """Sleep, but raise JobCancelled as soon as the job is cancelled."""
        if self.control.cancel_event.wait(max(0.0, seconds)):
            raise JobCancelled("cancelled on request")


TaskFunction = Callable[[TaskContext], Any]
# Seconds, or seconds computed from the settings (simulate's limit follows its maximum).
TimeLimit = float | Callable[[TaskSettings], float]


# What a task that declares no schema accepts: any object.
ANY_PAYLOAD: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class RegisteredTask:
    function: TaskFunction
    time_limit_s: TimeLimit | None
    payload_schema: dict[str, Any] = field(default_factory=lambda: dict(ANY_PAYLOAD))
    description: str = ""
    flow: FlowSettings | None = None


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, RegisteredTask] = {}

    def task(
        self,
        name: str,
        *,
        time_limit_s: TimeLimit | None = None,
        payload_schema: dict[str, Any] | None = None,
        description: str | None = None,
        flow: FlowSettings | None = None,
    ) -> Callable[[TaskFunction], TaskFunction]:
        """Decorator: register ``function`` as the task called ``name``.

        ``time_limit_s`` is the longest it may run (the worker's default, TASK_TIMEOUT_SECONDS,
        when not given). Past it the attempt fails; and the worker starts it only when the
        whole limit fits in the time its invocation has left.

        ``payload_schema`` is the payload it takes, in the JSON Schema subset of
        ``core.schemas`` (any object when not given); the submit function refuses a payload
        that does not match. ``description`` (the function's docstring when not given) is
        what the page shows beside the kind. ``flow`` is its flow control (concurrency per
        key, fair shares, priority bounds, a rate limit; ``core.flow.FlowSettings``), enforced
        by the database for every worker; none by default.
        """
        if isinstance(time_limit_s, int | float) and not time_limit_s > 0:
            raise ValueError(f"task {name!r}: time_limit_s must be positive")
        schema = dict(payload_schema) if payload_schema is not None else dict(ANY_PAYLOAD)
        schemas.check_schema(schema, f"task {name!r} payload_schema")
        if schema.get("type") != "object":
            raise schemas.SchemaError(f"task {name!r}: a payload_schema has type object")

        def register(function: TaskFunction) -> TaskFunction:
            text = description if description is not None else (function.__doc__ or "")
            summary = " ".join(text.strip().split("\n\n")[0].split())
            self._tasks[name] = RegisteredTask(function, time_limit_s, schema, summary, flow)
            return function

        return register

    def resolve(self, kind: str) -> TaskFunction:
        try:
            return self._tasks[kind].function
        except KeyError:
            known = ", ".join(sorted(self._tasks))
            raise UnknownTask(f"unknown task {kind!r}; known tasks: {known}") from None

    def time_limit(self, kind: str, settings: TaskSettings, default_s: float) -> float:
        """Seconds a task of ``kind`` may run; an unknown kind needs none (it fails at once)."""
        task = self._tasks.get(kind)
        if task is None:
            return 0.0
        declared = task.time_limit_s
        if declared is None:
            return default_s
        return float(declared(settings) if callable(declared) else declared)

    def shortest_limit(self, settings: TaskSettings, default_s: float) -> float:
        """The least time in which some registered task could finish."""
        limits = [self.time_limit(kind, settings, default_s) for kind in self._tasks]
        return min(limits, default=default_s)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def describe(self, settings: TaskSettings, default_s: float) -> list[TaskKind]:
        """Every registered kind as the worker publishes it to the database."""
        return [
            TaskKind(
                kind=kind,
                description=task.description,
                payload_schema=task.payload_schema,
                time_limit_s=self.time_limit(kind, settings, default_s),
                flow=task.flow.to_json() if task.flow else {},
            )
            for kind, task in sorted(self._tasks.items())
        ]


registry = TaskRegistry()


def load_task_modules(modules: list[str]) -> None:
    """Import extra modules whose ``@registry.task`` decorators add tasks."""
    for module in modules:
        importlib.import_module(module)


@registry.task(
    "simulate",
    time_limit_s=lambda s: s.simulate_max_s + SIMULATE_OVERRUN_S,
    payload_schema={
        "type": "object",
        "properties": {
            "seconds": {
                "type": "number",
                "minimum": 0,
                "title": "Seconds",
                "description": "How long to work; 5-10 s at random when left out (capped at"
                " the worker's TASK_MAX_SECONDS)",
            }
        },
    },
)
def simulate(ctx: TaskContext) -> str:
    """Works for a while (seconds, or 5-10 s at random), then says how long it took."""
    low, high = ctx.settings.simulate_min_s, ctx.settings.simulate_max_s
    requested = ctx.payload.get("seconds")
    if isinstance(requested, int | float) and not isinstance(requested, bool):
        duration = max(0.0, min(float(requested), high))
    else:
        duration = random.uniform(low, high)  # noqa: S311  # simulated work, not security
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < duration:
        ctx.progress(round(elapsed, 1), round(duration, 1), f"{elapsed:.0f} of {duration:.0f} s")
        ctx.sleep(min(SIMULATE_STEP_S, duration - elapsed))
    took = time.monotonic() - started
    ctx.progress(round(duration, 1), round(duration, 1), "done")
    return f"Task '{ctx.task_name}' completed in {took:.2f} seconds"


@registry.task(
    "noop",
    time_limit_s=INSTANT_LIMIT_S,
    payload_schema={"type": "object"},
)
def noop(ctx: TaskContext) -> str:
    """Does nothing and completes at once; any payload."""
    return "ok"


@registry.task(
    "fail",
    time_limit_s=INSTANT_LIMIT_S,
    payload_schema={
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "maxLength": 1000,
                "title": "Error message",
                "description": "The error it fails with",
            }
        },
    },
)
def fail(ctx: TaskContext) -> str:
    """Always raises: shows the retry path and how a failed job looks."""
    message = ctx.payload.get("message")
    raise RuntimeError(message if isinstance(message, str) else "this task always fails")


@registry.task("echo", time_limit_s=INSTANT_LIMIT_S, payload_schema={"type": "object"})
def echo(ctx: TaskContext) -> Any:
    """Completes with its payload as the result: any JSON object."""
    return ctx.payload

"""The task registry: a name maps to a function that does the work of one job.

The task a job runs is its payload's ``kind`` (``simulate`` when absent); the job's
``task_name`` is the caller's own label for it.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from functions.core.errors import UnknownTask

DEFAULT_KIND = "simulate"


@dataclass(frozen=True)
class TaskContext:
    job_id: UUID
    task_name: str
    payload: dict[str, Any]
    attempt: int
    settings: dict[str, float] = field(default_factory=dict)


TaskFunction = Callable[[TaskContext], Any]


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskFunction] = {}

    def task(self, name: str) -> Callable[[TaskFunction], TaskFunction]:
        """Decorator: register ``function`` as the task called ``name``."""

        def register(function: TaskFunction) -> TaskFunction:
            self._tasks[name] = function
            return function

        return register

    def resolve(self, kind: str) -> TaskFunction:
        try:
            return self._tasks[kind]
        except KeyError:
            known = ", ".join(sorted(self._tasks))
            raise UnknownTask(f"unknown task {kind!r}; known tasks: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._tasks)


registry = TaskRegistry()


def kind_of(payload: dict[str, Any]) -> str:
    kind = payload.get("kind", DEFAULT_KIND)
    return kind if isinstance(kind, str) else DEFAULT_KIND


def load_task_modules(modules: list[str]) -> None:
    """Import extra modules whose ``@registry.task`` decorators add tasks."""
    for module in modules:
        importlib.import_module(module)


@registry.task("simulate")
def simulate(ctx: TaskContext) -> str:
    """The reference behaviour: pretend to work for a while, then say how long it took."""
    low = float(ctx.settings.get("min_seconds", 5.0))
    high = float(ctx.settings.get("max_seconds", 10.0))
    requested = ctx.payload.get("seconds")
    if isinstance(requested, int | float) and not isinstance(requested, bool):
        duration = max(0.0, min(float(requested), high))
    else:
        duration = random.uniform(low, high)  # noqa: S311  # simulated work, not security
    started = time.monotonic()
    time.sleep(duration)
    took = time.monotonic() - started
    return f"Task '{ctx.task_name}' completed in {took:.2f} seconds"


@registry.task("noop")
def noop(ctx: TaskContext) -> str:
    return "ok"


@registry.task("fail")
def fail(ctx: TaskContext) -> str:
    """Always raises: shows the retry path and how a failed job looks."""
    message = ctx.payload.get("message")
    raise RuntimeError(message if isinstance(message, str) else "this task always fails")


@registry.task("echo")
def echo(ctx: TaskContext) -> Any:
    return ctx.payload

"""Tasks only the tests register (TASK_MODULES=tests.task_fixtures): they misbehave on purpose."""

from __future__ import annotations

import os

from functions.core.tasks import TaskContext, registry


@registry.task("flaky")
def flaky(ctx: TaskContext) -> str:
    """Fails until attempt ``succeed_on`` (payload), then succeeds."""
    succeed_on = int(ctx.payload.get("succeed_on", 2))
    if ctx.attempt < succeed_on:
        raise RuntimeError(f"flaky failure on attempt {ctx.attempt}")
    return f"succeeded on attempt {ctx.attempt}"


@registry.task("crash")
def crash(ctx: TaskContext) -> str:
    """Takes the whole worker process down, as a segfault or OOM kill would."""
    os._exit(137)

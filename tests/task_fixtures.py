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


@registry.task("progress_log", time_limit_s=30)
def progress_log(ctx: TaskContext) -> str:
    """Appends ``<job_id> <attempt>`` to the file SIDE_EFFECT_LOG names (one write, O_APPEND, so
    concurrent runs never interleave) each time it executes, then works ``seconds`` (0.5) in
    ``steps`` (10) sleeps, reporting progress after each: the side effect a task run twice
    would show twice."""
    path = os.environ["SIDE_EFFECT_LOG"]
    line = f"{ctx.job_id} {ctx.attempt}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    seconds = float(ctx.payload.get("seconds", 0.5))
    steps = int(ctx.payload.get("steps", 10))
    for step in range(steps):
        ctx.progress(step, steps, f"step {step} of {steps}")
        ctx.sleep(seconds / steps)
    ctx.progress(steps, steps, "done")
    return f"ran {steps} steps"

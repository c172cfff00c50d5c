"""Metric 3: jobs completed per second while draining a backlog of no-op jobs, with 1 and 4
worker processes. Every system fills its backlog first (not timed), starts its workers (not
timed) and is timed from the signal to start until the backlog is empty."""

from __future__ import annotations

import contextlib
from types import ModuleType

from bench import ours, procs
from bench.context import Context
from bench.peers import celery_peer, pgmq_raw, pgqueuer_peer, procrastinate_peer
from bench.rows import CELERY, OURS, PGMQ, PGQUEUER, PROCRASTINATE, Row

TIMEOUT_S = 600.0


def _process_drain(ctx: Context, name: str, module: ModuleType, url: str, workers: int) -> float:
    jobs = ctx.sizes.drain_jobs
    module.reset(url)
    module.fill(url, jobs)
    seconds, handled = procs.timed_drain(name, url, workers, ctx.log, TIMEOUT_S)
    left = module.remaining(url)
    if left or handled < jobs:
        raise RuntimeError(f"{name} drain left {left} jobs and handled {handled} of {jobs}")
    module.reset(url)
    return jobs / seconds


def run(ctx: Context) -> list[Row]:
    dbs = ctx.dbs
    systems: list[tuple[str, ModuleType, str]] = [
        (OURS, ours, dbs.ours),
        (PGMQ, pgmq_raw, dbs.ours),
        (PGQUEUER, pgqueuer_peer, dbs.pgqueuer),
        (PROCRASTINATE, procrastinate_peer, dbs.procrastinate),
    ]
    ours.set_webhook(dbs.ours, None)
    with contextlib.ExitStack() as stack:
        celery = None
        if ctx.wants(CELERY):
            ctx.say("drain: starting Celery workers")
            most = max(ctx.sizes.drain_workers)
            celery = stack.enter_context(celery_peer.Workers(most, ctx.log))
        return [_row(ctx, systems, celery, workers) for workers in ctx.sizes.drain_workers]


def _row(
    ctx: Context,
    systems: list[tuple[str, ModuleType, str]],
    celery: celery_peer.Workers | None,
    workers: int,
) -> Row:
    jobs = ctx.sizes.drain_jobs
    plural = "s" if workers > 1 else ""
    row = Row(
        f"drain_{workers}w",
        f"drain {jobs} no-op jobs, {workers} worker{plural}",
        "jobs/s",
        higher_is_better=True,
    )
    for name, module, url in systems:
        if name == OURS or ctx.wants(name):
            ctx.say(f"drain: {name}, {workers} worker(s)")
            row.values[name] = _process_drain(ctx, name, module, url, workers)
    if celery is not None:
        ctx.say(f"drain: {CELERY}, {workers} worker(s)")
        row.values[CELERY] = jobs / celery.drain(jobs, workers, TIMEOUT_S)
    return row

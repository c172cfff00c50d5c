"""Metric 2: from the submitting transaction's commit to the task starting, on an idle queue,
one job at a time. Ours warm: process_job lingers between jobs (its default), holds the queue's
lease and takes each job from its waiting claim; no webhook is called. Ours cold (no linger):
every job takes the real path, the queue trigger's net.http_post, the relay (pg_net's stand-in,
paced like pg_net), the webhook, its asynchronous invocation of process_job, the claim, and the
task (bench.tasks.bench_mark, which notes its start). Peers: pgqueuer and procrastinate workers
woken by LISTEN/NOTIFY. Submissions alternate between the systems.

Each system's clock starts as the committing statement is sent, not when its acknowledgement
is read: on a loaded machine a worker can start the task before the submitter is scheduled to
read that acknowledgement, which made latencies negative."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from bench import ours
from bench.context import Context
from bench.peers import pgqueuer_peer, procrastinate_peer
from bench.rows import PGQUEUER, PROCRASTINATE, Row
from bench.stats import percentile

GAP_S = 0.05  # after each task starts, so the next submission finds the system idle
TIMEOUT_S = 30.0


async def _measure(ctx: Context, cold: bool = False) -> dict[str, list[float]]:
    systems: list[Any] = [ours.Dispatch(ctx.dbs.ours, ctx.log, 0.0 if cold else None)]
    if ctx.wants(PGQUEUER) and not cold:
        systems.append(pgqueuer_peer.Dispatch(ctx.dbs.pgqueuer, ctx.log))
    if ctx.wants(PROCRASTINATE) and not cold:
        systems.append(procrastinate_peer.Dispatch(ctx.dbs.procrastinate, ctx.log))
    latencies: dict[str, list[float]] = {system.name: [] for system in systems}
    async with AsyncExitStack() as stack:
        for system in systems:  # all start side by side
            stack.push_async_exit(system)
            system.launch()
        for system in systems:
            await system.__aenter__()
        # Warm-up submissions (not counted) take each worker's first-request costs.
        warmup = min(3, 1 + ctx.sizes.dispatch_jobs // 50)
        for seq in range(-warmup, ctx.sizes.dispatch_jobs):
            for system in systems:
                key, committed = await system.enqueue(seq)
                started = await system.marks.wait(key, TIMEOUT_S * (4 if seq < 0 else 1))
                if seq >= 0:
                    latencies[system.name].append((started - committed) * 1000)
                await asyncio.sleep(GAP_S)
    return latencies


def run(ctx: Context) -> list[Row]:
    ctx.say(f"dispatch: {ctx.sizes.dispatch_jobs} jobs a system")
    latencies = asyncio.run(_measure(ctx))
    rows = []
    for p in (50, 99):
        row = Row(f"dispatch_p{p}", f"dispatch latency p{p}, commit to task start", "ms", False)
        row.values = {name: percentile(sample, p) for name, sample in latencies.items()}
        rows.append(row)
    ctx.say(f"dispatch, cold (through the webhook): {ctx.sizes.dispatch_jobs} jobs")
    cold = asyncio.run(_measure(ctx, cold=True))[ours.Dispatch.name]
    for p in (50, 99):
        row = Row(
            f"dispatch_cold_p{p}",
            f"dispatch latency p{p}, no lingering worker (webhook, relay paced like pg_net)",
            "ms",
            False,
        )
        row.values = {ours.Dispatch.name: percentile(cold, p)}
        rows.append(row)
    ours.reset(ctx.dbs.ours)
    return rows

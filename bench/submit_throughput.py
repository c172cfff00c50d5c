"""Metric 1: jobs accepted per second, by 1 and 8 concurrent clients: ``submit_job`` in the
database and ``POST /jobs`` through the submit function, against ``pgmq.send`` alone, pgqueuer's
enqueue, procrastinate's defer and Celery's delay. Rounds interleave the systems, so a burst of
load from elsewhere on the machine hits them all alike."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bench import ours
from bench.clients import shares
from bench.context import Context
from bench.peers import celery_peer, pgmq_raw, pgqueuer_peer, procrastinate_peer
from bench.rows import CELERY, OURS, PGMQ, PGQUEUER, PROCRASTINATE, Row
from devstack.config import generate_webhook_secret

Timer = Callable[[int, int], float]  # (clients, jobs) -> seconds


def _timers(ctx: Context) -> dict[str, Timer]:
    dbs = ctx.dbs
    timers: dict[str, Timer] = {
        OURS: lambda c, n: ours.time_submit_sql(dbs.ours, c, n),
        PGMQ: lambda c, n: pgmq_raw.time_submit(dbs.ours, c, n),
        PGQUEUER: lambda c, n: pgqueuer_peer.time_submit(dbs.pgqueuer, c, n),
        PROCRASTINATE: lambda c, n: procrastinate_peer.time_submit(dbs.procrastinate, c, n),
    }
    queue = f"bench-submit-{secrets.token_hex(3)}"
    timers[CELERY] = lambda c, n: celery_peer.time_submit(queue, c, n)
    return {name: t for name, t in timers.items() if name == OURS or ctx.wants(name)}


def _rate(jobs: int, seconds: float) -> float:
    return jobs / seconds if seconds > 0 else float("nan")


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    # The webhook is configured as in production, so submit_job pays for its trigger's
    # net.http_post; nothing delivers those requests during this metric.
    ours.set_webhook(ctx.dbs.ours, ours.DEAD_WEBHOOK, generate_webhook_secret())
    timers = _timers(ctx)
    sql = {
        c: Row(f"submit_sql_{c}c", f"submit in SQL, {c} client{'s' * (c > 1)}", "jobs/s", True)
        for c in sizes.submit_clients
    }
    http = {
        c: Row(
            f"submit_http_{c}c",
            f"submit via HTTP function, {c} client{'s' * (c > 1)}",
            "jobs/s",
            True,
        )
        for c in sizes.submit_clients
    }
    spent: dict[tuple[str, str], list[float]] = {}  # (row key, system) -> [seconds, jobs]

    def add(row: Row, system: str, seconds: float, jobs: int) -> None:
        totals = spent.setdefault((row.key, system), [0.0, 0.0])
        totals[0] += seconds
        totals[1] += jobs

    with ours.submit_function(ctx.dbs.ours, ctx.log) as port:
        rounds = zip(
            shares(sizes.submit_jobs, sizes.rounds),
            shares(sizes.http_jobs, sizes.rounds),
            strict=True,
        )
        for round_no, (sql_jobs, http_jobs) in enumerate(rounds):
            ctx.say(f"submit: round {round_no + 1}/{sizes.rounds}")
            for clients in sizes.submit_clients:
                for name, timer in timers.items():
                    add(sql[clients], name, timer(clients, sql_jobs), sql_jobs)
                seconds = ours.time_submit_http(port, clients, http_jobs)
                add(http[clients], OURS, seconds, http_jobs)
    rows = [*sql.values(), *http.values()]
    for row in rows:
        for (key, system), (seconds, jobs) in spent.items():
            if key == row.key:
                row.values[system] = _rate(int(jobs), seconds)
    ours.reset(ctx.dbs.ours)
    pgmq_raw.reset(ctx.dbs.ours)
    if ctx.wants(PGQUEUER):
        pgqueuer_peer.reset(ctx.dbs.pgqueuer)
    if ctx.wants(PROCRASTINATE):
        procrastinate_peer.reset(ctx.dbs.procrastinate)
    return rows

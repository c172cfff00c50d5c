"""Metric 4: from a committed update of a job_results row to a subscriber's callback, through
the local Realtime gateway (devstack.realtime), with 1 and 200 subscribers. Each subscriber is
its own WebSocket client (the ``realtime`` package, as client/ uses it), spread over a few
processes, in each of the two ways a client can follow jobs: ``postgres_changes`` on every
UPDATE of job_results, and the private Broadcast topic of the public demo's jobs
(``jobs:public``, joined with the anon key as the page's demo mode joins it), which the page and
client use by default and where each change is a progress report of a running job. One update
at a time: the next is made once every subscriber has the last one (or after a timeout), so no
change queues behind another and each figure is one change's trip."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench import procs
from bench.context import Context
from bench.procs import WorkerGroup
from bench.rows import OURS, Row
from bench.stats import percentile
from devstack.postgres.embedded import free_port
from devstack.services import ManagedProcess

SUBSCRIBER_PROCESSES = 4
CHANGES, BROADCAST = "changes", "broadcast"
MODES = {CHANGES: "postgres_changes", BROADCAST: "Broadcast"}
PUBLIC_TOPIC = "jobs:public"
GAP_S = 0.02  # between one change's last delivery and the next update
DELIVERY_TIMEOUT_S = 10.0


def gateway_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("devstack.auth.keys", "devstack.realtime", "devstack.realtime.__main__")
    )


@contextmanager
def gateway(database_url: str, ctx: Context) -> Iterator[tuple[str, str]]:
    """The gateway, running; yields (Realtime URL, anon key)."""
    from devstack.auth.keys import mint_keys

    secret = secrets.token_urlsafe(48)
    port = free_port()
    process = ManagedProcess(
        "realtime",
        [sys.executable, "-m", "devstack.realtime", "--port", str(port)],
        # Secrets by environment: a command line is visible to ps.
        env={"PYTHONUNBUFFERED": "1", "DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": secret},
        port=port,
        log_sink=ctx.log,
    ).start()
    try:
        yield f"http://127.0.0.1:{port}/realtime/v1", mint_keys(secret).anon_key
    finally:
        process.stop()


def _marker(change: Any) -> str:
    data = change.get("data", change) if isinstance(change, dict) else {}
    record = data.get("record") or data.get("new") or {}
    return str(record.get("result") or "")


def _broadcast_marker(message: Any) -> str:
    job = (message.get("payload") or {}).get("job") or {} if isinstance(message, dict) else {}
    return str(job.get("progress_message") or "")


def subscribe_worker(url: str, anon_key: str, count: str, out_dir: str, mode: str) -> None:
    """In a subscriber process: ``count`` clients, each subscribed; records (marker, time)."""
    from realtime import AsyncRealtimeClient
    from realtime.types import (
        RealtimeChannelConfig,
        RealtimeChannelOptions,
        RealtimePostgresChangesListenEvent,
        RealtimeSubscribeStates,
    )

    receipts: list[tuple[str, float]] = []
    arrived: dict[str, int] = {}
    clients_here = int(count)

    def on_change(change: Any) -> None:
        marker = _marker(change) if mode == CHANGES else _broadcast_marker(change)
        receipts.append((marker, time.time()))
        arrived[marker] = arrived.get(marker, 0) + 1
        if arrived[marker] == clients_here:
            print(f"got {marker}", flush=True)

    async def subscriber(index: int) -> AsyncRealtimeClient:
        client = AsyncRealtimeClient(url, anon_key, auto_reconnect=False)
        await client.connect()
        joined = asyncio.Event()

        def on_status(status: Any, error: Exception | None) -> None:
            if status == RealtimeSubscribeStates.SUBSCRIBED:
                joined.set()

        if mode == CHANGES:
            channel = client.channel(f"bench-{index}")
            channel.on_postgres_changes(
                RealtimePostgresChangesListenEvent.Update,
                schema="public",
                table="job_results",
                callback=on_change,
            )
        else:
            config = RealtimeChannelConfig(broadcast={}, presence=None, private=True)
            channel = client.channel(PUBLIC_TOPIC, RealtimeChannelOptions(config=config))
            channel.on_broadcast("job", on_change)
        await channel.subscribe(on_status)
        await asyncio.wait_for(joined.wait(), 30)
        return client

    async def main() -> None:
        clients = await asyncio.gather(*(subscriber(i) for i in range(clients_here)))
        procs.ready()
        await asyncio.to_thread(procs.wait_for_go)
        path = Path(out_dir) / f"receipts-{id(clients)}-{time.time_ns()}.json"
        path.write_text(json.dumps(receipts))
        procs.done(len(receipts))
        # No goodbyes: 200 closing handshakes take seconds, and the parent ends us anyway.
        os._exit(0)

    asyncio.run(main())


# A change each mode delivers: any update for postgres_changes; a progress report of a running
# public job for Broadcast (what the database broadcasts besides transitions).
JOB = {
    CHANGES: "insert into public.job_results (task_name, kind) values ('bench-realtime', 'noop')"
    " returning job_id",
    BROADCAST: "insert into public.job_results (task_name, kind, status, attempts)"
    " values ('bench-realtime', 'noop', 'running', 1) returning job_id",
}
UPDATE = {
    CHANGES: "update public.job_results set result = %s where job_id = %s",
    BROADCAST: "update public.job_results set progress = progress + 1, progress_message = %s"
    " where job_id = %s",
}


def _measure(ctx: Context, url: str, key: str, subscribers: int, mode: str) -> list[float]:
    processes = SUBSCRIBER_PROCESSES if subscribers % SUBSCRIBER_PROCESSES == 0 else 1
    updates = ctx.sizes.realtime_updates
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as out_dir:
        args = ["realtime", "subscribe", url, key, str(subscribers // processes), out_dir, mode]
        group = WorkerGroup(args, processes, ctx.log, {})
        began = time.monotonic()
        with group.start(timeout_s=120), psycopg.connect(ctx.dbs.ours, autocommit=True) as conn:
            ctx.say(
                f"realtime: {subscribers} subscribed ({MODES[mode]}) in"
                f" {time.monotonic() - began:.1f} s"
            )
            row = conn.execute(JOB[mode]).fetchone()
            assert row is not None
            committed: dict[str, float] = {}
            late = 0
            for seq in range(updates):
                marker = f"rt-{mode}-{subscribers}-{seq}"
                # Timed from before the statement: a Broadcast can reach a subscriber before
                # the commit's reply reaches us, so a clock read after it can come out later
                # than the receipt. The figure is an upper bound, never below zero.
                committed[marker] = time.time()
                conn.execute(UPDATE[mode], (marker, row[0]))
                try:
                    group.expect(f"got {marker}", DELIVERY_TIMEOUT_S)
                except TimeoutError:
                    late += 1
                time.sleep(GAP_S)
            if late:
                ctx.say(
                    f"realtime: {late} change(s) not delivered to all within "
                    f"{DELIVERY_TIMEOUT_S:g} s"
                )
            group.go()
            group.wait_done(60)
        receipts = [r for p in Path(out_dir).glob("*.json") for r in json.loads(p.read_text())]
    latencies = [(at - committed[m]) * 1000 for m, at in receipts if m in committed]
    expected = subscribers * updates
    if len(latencies) < expected:
        ctx.say(f"realtime: {expected - len(latencies)} of {expected} changes never arrived")
    return latencies


def _key(mode: str, p: int, subscribers: int) -> str:
    # postgres_changes keeps the keys earlier results were written under.
    return f"realtime_{'broadcast_' * (mode == BROADCAST)}p{p}_{subscribers}s"


def run(ctx: Context) -> list[Row]:
    rows = {
        (mode, p, s): Row(
            _key(mode, p, s),
            f"Realtime p{p}, commit to callback, {MODES[mode]}, {s} subscriber{'s' * (s > 1)}",
            "ms",
            False,
        )
        for mode in MODES
        for s in ctx.sizes.realtime_subscribers
        for p in (50, 99)
    }
    if not gateway_available():
        for row in rows.values():
            row.note = "devstack.realtime not there yet"
        return list(rows.values())
    with gateway(ctx.dbs.ours, ctx) as (url, key):
        for mode in MODES:
            for subscribers in ctx.sizes.realtime_subscribers:
                ctx.say(f"realtime: {subscribers} subscriber(s), {MODES[mode]}")
                latencies = _measure(ctx, url, key, subscribers, mode)
                for p in (50, 99):
                    if latencies:
                        rows[(mode, p, subscribers)].values[OURS] = percentile(latencies, p)
    return list(rows.values())

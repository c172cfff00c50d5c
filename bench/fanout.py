"""Metric: the Realtime gateway's fan-out to 200 minimal subscribers (bench.phoenix: a bare
WebSocket each, no client library), so the gateway is measured apart from heavy clients.
Latency: one update of a job_results row at a time, commit to each subscriber's receipt, p50
and p99 over every delivery. Throughput: a burst of updates committed back to back, deliveries
per second from the first commit to the last receipt."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path

import psycopg

from bench import procs
from bench.context import Context
from bench.phoenix import Subscriber, socket_url
from bench.procs import WorkerGroup
from bench.realtime_latency import gateway
from bench.rows import OURS, Row
from bench.stats import percentile

SUBSCRIBERS = 200
PROCESSES = 4
GAP_S = 0.02
DELIVERY_TIMEOUT_S = 10.0
# The marker is the row's result; found in the raw frame, so a receipt costs no JSON parse.
MARKER = re.compile(r'"result":\s*"(fo-[a-z]+-\d+)"')


def subscribe_worker(url: str, count: str, out_dir: str) -> None:
    """In a subscriber process: ``count`` subscribers; records (marker, time) per delivery."""
    receipts: list[tuple[str, float]] = []
    arrived: dict[str, int] = {}
    here = int(count)

    def on_frame(frame: str, at: float) -> None:
        found = MARKER.search(frame)
        if found is None:
            return
        marker = found.group(1)
        receipts.append((marker, at))
        arrived[marker] = arrived.get(marker, 0) + 1
        if arrived[marker] == here:
            print(f"got {marker}", flush=True)

    async def main() -> None:
        subscribers = [Subscriber(url, f"fanout-{i}", on_frame) for i in range(here)]
        await asyncio.gather(*(s.start() for s in subscribers))
        procs.ready()
        await asyncio.to_thread(procs.wait_for_go)
        path = Path(out_dir) / f"receipts-{os.getpid()}.json"
        path.write_text(json.dumps(receipts))
        procs.done(len(receipts))
        os._exit(0)  # no goodbyes, as in realtime_latency

    asyncio.run(main())


def _measure(ctx: Context, url: str) -> tuple[list[float], float]:
    """(latencies in ms, deliveries per second in the burst)."""
    updates, burst = ctx.sizes.fanout_updates, ctx.sizes.fanout_burst
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as out_dir:
        args = ["fanout", "subscribe", url, str(SUBSCRIBERS // PROCESSES), out_dir]
        group = WorkerGroup(args, PROCESSES, ctx.log, {})
        with group.start(timeout_s=120), psycopg.connect(ctx.dbs.ours, autocommit=True) as conn:
            row = conn.execute(
                "insert into public.job_results (task_name, kind) values ('bench-fanout', 'noop')"
                " returning job_id"
            ).fetchone()
            assert row is not None
            update = "update public.job_results set result = %s where job_id = %s"
            committed: dict[str, float] = {}
            for seq in range(updates):
                marker = f"fo-one-{seq}"
                conn.execute(update, (marker, row[0]))
                committed[marker] = time.time()
                group.expect(f"got {marker}", DELIVERY_TIMEOUT_S)
                time.sleep(GAP_S)
            burst_began = time.time()
            for seq in range(burst):
                conn.execute(update, (f"fo-burst-{seq}", row[0]))
            group.expect(f"got fo-burst-{burst - 1}", DELIVERY_TIMEOUT_S * 3)
            group.go()
            group.wait_done(60)
        receipts = [r for p in Path(out_dir).glob("*.json") for r in json.loads(p.read_text())]
    latencies = [(at - committed[m]) * 1000 for m, at in receipts if m in committed]
    in_burst = [at for m, at in receipts if m.startswith("fo-burst-")]
    if len(latencies) < SUBSCRIBERS * updates:
        ctx.say(f"fanout: {SUBSCRIBERS * updates - len(latencies)} deliveries missing")
    rate = len(in_burst) / (max(in_burst) - burst_began) if in_burst else float("nan")
    return latencies, rate


def run(ctx: Context) -> list[Row]:
    title = f"gateway fan-out, {SUBSCRIBERS} minimal subscribers"
    rows = {
        "p50": Row("fanout_p50", f"{title}, p50 commit to receipt", "ms", False),
        "p99": Row("fanout_p99", f"{title}, p99 commit to receipt", "ms", False),
        "rate": Row("fanout_rate", f"{title}, deliveries/s in a burst", "msgs/s", True),
    }
    with gateway(ctx.dbs.ours, ctx) as (url, key):
        ctx.say(f"fanout: {SUBSCRIBERS} minimal subscribers")
        latencies, rate = _measure(ctx, socket_url(url, key))
    if latencies:
        rows["p50"].values[OURS] = percentile(latencies, 50)
        rows["p99"].values[OURS] = percentile(latencies, 99)
    rows["rate"].values[OURS] = rate
    with psycopg.connect(ctx.dbs.ours, autocommit=True) as conn:
        conn.execute("delete from public.job_results where task_name = 'bench-fanout'")
    return list(rows.values())

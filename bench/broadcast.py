"""Issue 21's benchmark: live status over private Broadcast against postgres_changes, side by
side in one run, on the local gateway.

    python -m bench.broadcast [--subscribers 1,200,2000] [--out bench/results/broadcast.csv]

For each subscriber count: minimal subscribers (raw Phoenix frames, bench.phoenix's spirit,
spread over worker processes) each holding a user's token; a tenth watch the public demo's topic
with the anon key, the rest their own user's topic (five per user: tabs and devices). The same
subscribers then join postgres_changes on job_results with the same tokens, so both modes
deliver the same changes to the same people. Each job change is a progress report of a running
job (an owned one, or every tenth a public one), which the database broadcasts from its trigger.
Latency: changes one at a time, GAP_S apart, commit to each receipt, p50 and p99. Throughput: a
burst committed back to back, deliveries per second from the first commit to the last receipt.

Then the cost of the sends to a submit: submit_job throughput with the sends on, and with
private.job_messages replaced by one that makes no message (restored afterwards), in interleaved
rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import re
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import websockets

from bench import procs
from bench.pg import DEFAULT_DATA_DIR, databases
from bench.procs import WorkerGroup
from bench.stats import median, percentile
from devstack.auth.keys import mint_keys, mint_token
from devstack.postgres.embedded import free_port
from devstack.services import ROOT, ManagedProcess

BROADCAST = "broadcast"
POSTGRES_CHANGES = "postgres_changes"
MODES = (BROADCAST, POSTGRES_CHANGES)
WATCHERS_PER_USER = 5
PROCESSES = 4
GAP_S = 0.02
LATENCY_CHANGES = 100
BURST_CHANGES = 300
DELIVERY_TIMEOUT_S = 60.0
MARKER = re.compile(r'"progress_message":\s*"(bc-[a-z]+-\d+)"')
SCHEMA_FUNCTION = ROOT / "supabase" / "schema" / "20_functions" / "70_broadcast_job_changes.sql"
# No messages: nothing is built, and private.broadcast_job_changes returns at once.
NO_SEND = """
create or replace function private.job_messages(n public.job_results, e public.job_events)
returns table (topic text, message jsonb) language sql stable
as $$ select null::text, null::jsonb where false $$
"""


@dataclass(frozen=True)
class Watcher:
    topic: str  # the Broadcast topic (without "realtime:")
    token: str


@dataclass(frozen=True)
class Topology:
    watchers: list[Watcher]
    users: list[str]
    public_watchers: int

    def expected(self, changes: list[str | None], indexes: range) -> int:
        """Deliveries the watchers at ``indexes`` should get for ``changes`` (owner or None)."""
        count = 0
        for owner in changes:
            topic = "jobs:public" if owner is None else f"jobs:user:{owner}"
            count += sum(1 for i in indexes if self.watchers[i].topic == topic)
        return count


def topology(subscribers: int, secret: str) -> Topology:
    public = subscribers // 10
    users = [str(uuid.uuid4()) for _ in range(max(1, (subscribers - public) // WATCHERS_PER_USER))]
    anon = mint_keys(secret).anon_key
    watchers = [Watcher("jobs:public", anon) for _ in range(public)]
    for i in range(subscribers - public):
        user = users[i % len(users)]
        token = mint_token(secret, "authenticated", claims={"sub": user})
        watchers.append(Watcher(f"jobs:user:{user}", token))
    return Topology(watchers, users, public)


def plan(top: Topology, count: int) -> list[str | None]:
    """Whose job each change is (None: the public one)."""
    return [
        None if top.public_watchers and i % 10 == 9 else top.users[i % len(top.users)]
        for i in range(count)
    ]


# --- subscriber processes ----------------------------------------------------------------------


def subscribe_worker(url: str, mode: str, spec_path: str, expected: str, out_dir: str) -> None:
    """``python -m bench.worker broadcast subscribe ...``: the watchers in ``spec_path``."""
    watchers = [Watcher(**w) for w in json.loads(Path(spec_path).read_text())]
    want = int(expected)
    receipts: list[tuple[str, float]] = []

    def on_frame(frame: str, at: float) -> None:
        found = MARKER.search(frame)
        if found is not None:
            receipts.append((found.group(1), at))
            if len(receipts) == want:
                print("complete", flush=True)

    async def watch(n: int, watcher: Watcher) -> None:
        ws = await websockets.connect(url, max_size=None, compression=None, open_timeout=60)
        if mode == BROADCAST:
            topic = f"realtime:{watcher.topic}"
            config: dict[str, Any] = {"private": True, "broadcast": {}, "postgres_changes": []}
        else:
            topic = f"realtime:pc-{n}"
            config = {
                "postgres_changes": [
                    {"event": "UPDATE", "schema": "public", "table": "job_results"}
                ]
            }
        join = {"config": config, "access_token": watcher.token}
        await ws.send(
            json.dumps(
                {"topic": topic, "event": "phx_join", "ref": "1", "join_ref": "1", "payload": join}
            )
        )
        async with asyncio.timeout(60):
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("event") == "phx_reply" and reply.get("ref") == "1":
                    if reply["payload"].get("status") != "ok":
                        raise RuntimeError(f"join refused: {reply['payload']}")
                    break
        asyncio.get_running_loop().create_task(_receive(ws))
        asyncio.get_running_loop().create_task(_beat(ws))

    async def _receive(ws: Any) -> None:
        async for frame in ws:
            on_frame(frame if isinstance(frame, str) else frame.decode(), time.time())

    async def _beat(ws: Any) -> None:
        ref = 100
        while True:
            await asyncio.sleep(20)
            ref += 1
            await ws.send(
                json.dumps(
                    {"topic": "phoenix", "event": "heartbeat", "ref": str(ref), "payload": {}}
                )
            )

    async def main() -> None:
        # Joins in small waves: a join asks the database (policies, tables) once each.
        for start in range(0, len(watchers), 50):
            await asyncio.gather(
                *(watch(start + i, w) for i, w in enumerate(watchers[start : start + 50]))
            )
        procs.ready()
        if want == 0:
            print("complete", flush=True)
        await asyncio.to_thread(procs.wait_for_go)
        (Path(out_dir) / f"receipts-{os.getpid()}.json").write_text(json.dumps(receipts))
        procs.done(len(receipts))
        os._exit(0)

    asyncio.run(main())


# --- the gateway, the jobs, the run -----------------------------------------------------------


@contextmanager
def gateway(database_url: str, secret: str, log: Any) -> Iterator[str]:
    port = free_port()
    process = ManagedProcess(
        "realtime",
        [sys.executable, "-m", "devstack.realtime", "--port", str(port)],
        # Secrets by environment: a command line is visible to ps.
        env={"PYTHONUNBUFFERED": "1", "DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": secret},
        port=port,
        log_sink=log,
    ).start()
    try:
        yield f"ws://127.0.0.1:{port}/realtime/v1/websocket?apikey={mint_keys(secret).anon_key}&vsn=1.0.0"
    finally:
        process.stop()


def running_jobs(conn: psycopg.Connection, top: Topology) -> dict[str | None, str]:
    """One running job per user and a public one: what the changes report progress on."""
    jobs: dict[str | None, str] = {}
    for owner in [None, *top.users]:
        row = conn.execute(
            "insert into public.job_results (task_name, kind, owner_id, status, attempts)"
            " values ('bench-broadcast', 'noop', %s, 'running', 1) returning job_id",
            (owner,),
        ).fetchone()
        assert row is not None
        jobs[owner] = str(row[0])
    return jobs


@dataclass
class Result:
    mode: str
    subscribers: int
    p50_ms: float
    p99_ms: float
    deliveries_per_s: float
    missing: int


def measure(database_url: str, url: str, mode: str, top: Topology, log: Any) -> Result:
    n = len(top.watchers)
    latency_plan, burst_plan = plan(top, LATENCY_CHANGES), plan(top, BURST_CHANGES)
    processes = min(PROCESSES, n)
    shares = [range(i, n, processes) for i in range(processes)]
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as out_dir:
        groups = []
        for k, indexes in enumerate(shares):
            spec = Path(out_dir) / f"spec-{k}.json"
            spec.write_text(json.dumps([top.watchers[i].__dict__ for i in indexes]))
            expected = top.expected(latency_plan + burst_plan, indexes)
            groups.append(
                WorkerGroup(
                    ["broadcast", "subscribe", url, mode, str(spec), str(expected), out_dir],
                    1,
                    log,
                    {},
                )
            )
        try:
            for group in groups:
                group.launch()
            for group in groups:
                group.expect("ready", 300)
            with psycopg.connect(database_url, autocommit=True) as conn:
                jobs = running_jobs(conn, top)
                update = (
                    "update public.job_results set progress = %s, progress_message = %s"
                    " where job_id = %s"
                )
                committed: dict[str, float] = {}
                for seq, owner in enumerate(latency_plan):
                    marker = f"bc-one-{seq}"
                    conn.execute(update, (seq, marker, jobs[owner]))
                    committed[marker] = time.time()
                    time.sleep(GAP_S)
                burst_began = time.time()
                for seq, owner in enumerate(burst_plan):
                    conn.execute(update, (seq, f"bc-burst-{seq}", jobs[owner]))
            deadline = time.monotonic() + DELIVERY_TIMEOUT_S
            for group in groups:
                with contextlib.suppress(TimeoutError):  # what is missing is counted below
                    group.expect("complete", max(1.0, deadline - time.monotonic()))
            for group in groups:
                group.go()
            for group in groups:
                group.wait_done(120)
        finally:
            for group in groups:
                group.stop()
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("delete from public.job_results where task_name = 'bench-broadcast'")
        receipts = [
            r for p in Path(out_dir).glob("receipts-*.json") for r in json.loads(p.read_text())
        ]
    expected_total = top.expected(latency_plan + burst_plan, range(n))
    latencies = [(at - committed[m]) * 1000 for m, at in receipts if m in committed]
    in_burst = [at for m, at in receipts if m.startswith("bc-burst-")]
    rate = len(in_burst) / (max(in_burst) - burst_began) if in_burst else 0.0
    return Result(
        mode,
        n,
        percentile(latencies, 50),
        percentile(latencies, 99),
        rate,
        expected_total - len(receipts),
    )


# --- the cost of the sends to a submit ---------------------------------------------------------


def submit_rate(database_url: str, jobs: int) -> float:
    with psycopg.connect(database_url, autocommit=True) as conn:
        began = time.perf_counter()
        for _ in range(jobs):
            conn.execute("select public.submit_job('bench-submit', '{}'::jsonb)")
        return jobs / (time.perf_counter() - began)


def submit_cost(database_url: str, jobs: int, rounds: int) -> tuple[float, float, float]:
    """submit_job rates (jobs/s, medians) with the sends and without them, and the median of
    each round's ratio. Rounds alternate the order (ABBA), so drift on a shared machine hits
    both alike."""
    with_sends: list[float] = []
    without: list[float] = []
    ratios: list[float] = []
    original = SCHEMA_FUNCTION.read_text()

    def timed(body: str) -> float:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(body.encode())
        return submit_rate(database_url, jobs)

    try:
        for n in range(rounds):
            if n % 2 == 0:
                on, off = timed(original), timed(NO_SEND)
            else:
                off, on = timed(NO_SEND), timed(original)
            with_sends.append(on)
            without.append(off)
            ratios.append(on / off)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(original.encode())
    return median(with_sends), median(without), median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", default="1,200,2000")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--submit-jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "broadcast.csv")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.subscribers.split(",") if c.strip()]
    secret = secrets.token_urlsafe(48)
    rows: list[dict[str, Any]] = []
    log_path = Path(tempfile.gettempdir()) / "bench-broadcast.log"
    with (
        open(log_path, "w") as log,
        databases(os.environ.get("DATABASE_URL"), DEFAULT_DATA_DIR) as dbs,
    ):
        url_db = dbs.ours
        with gateway(url_db, secret, log) as url:
            for count in counts:
                top = topology(count, secret)
                for mode in [m for m in args.modes.split(",") if m in MODES]:
                    result = measure(url_db, url, mode, top, log)
                    print(
                        f"{mode:17} {count:5} subscribers: p50 {result.p50_ms:7.1f} ms, p99 "
                        f"{result.p99_ms:7.1f} ms, {result.deliveries_per_s:8.0f} deliveries/s,"
                        f" {result.missing} missing",
                        flush=True,
                    )
                    rows.append(result.__dict__)
        migrate_webhook(url_db)
        with_sends, without, ratio = submit_cost(url_db, args.submit_jobs, args.rounds)
        print(
            f"submit_job: {with_sends:.0f} jobs/s with the sends, {without:.0f} without"
            f" (median ratio of {args.rounds} rounds: {ratio:.2f}x)",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["metric", "mode", "subscribers", "value", "unit"])
        for row in rows:
            for metric, unit in (
                ("p50_ms", "ms"),
                ("p99_ms", "ms"),
                ("deliveries_per_s", "deliveries/s"),
                ("missing", "deliveries"),
            ):
                writer.writerow(
                    [metric, row["mode"], row["subscribers"], f"{row[metric]:.1f}", unit]
                )
        writer.writerow(["submit_rate", "with_sends", "", f"{with_sends:.1f}", "jobs/s"])
        writer.writerow(["submit_rate", "without_sends", "", f"{without:.1f}", "jobs/s"])
        writer.writerow(["submit_ratio", "with/without", "", f"{ratio:.3f}", "x"])
    print(f"written {args.out}")
    return 0


def migrate_webhook(database_url: str) -> None:
    """As in production: submit_job's trigger queues the wake-up (to a dead address)."""
    from bench.ours import DEAD_WEBHOOK, set_webhook
    from devstack.config import generate_webhook_secret

    set_webhook(database_url, DEAD_WEBHOOK, generate_webhook_secret())


if __name__ == "__main__":
    sys.exit(main())

"""What flow control costs jobs that declare none: the same plain workload (submit_jobs in
batches of 1,000 no-op jobs, then one worker draining them through claim_jobs and
finish_attempts, batch 10) on two databases of one server, one migrated without flow control
(a checkout of the migrations before it, --base) and one with it, in alternating rounds; the
medians and their ratio. Run: python -m bench.flow_overhead --base ../wtflow-base --admin-url
postgresql://postgres@127.0.0.1:5432/postgres"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from devstack.postgres import migrate

JOBS = 2_000


def build(admin_url: str, name: str, migrations: Path) -> str:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        migrate.prepare(conn)
        migrate.apply_migrations(conn, migrate.discover(migrations))
    return url


def round_on(url: str) -> tuple[float, float]:
    """Seconds to submit JOBS plain jobs, and to drain them with one worker."""
    items = Jsonb([{"task_name": "n", "kind": "noop"} for _ in range(1_000)])
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for _ in range(JOBS // 1_000):
            conn.execute("select submit_jobs(%s)", (items,))
        submitted = time.perf_counter() - started
        holder = f"bench-{uuid.uuid4().hex[:8]}"
        done = 0
        started = time.perf_counter()
        while done < JOBS:
            rows = conn.execute(
                "select msg_id, job_id, attempt from private.claim_jobs(%s, 10, 30, 0, 1, false)"
                " where delivery = 'started'",
                (holder,),
            ).fetchall()
            if not rows:
                continue
            conn.execute(
                "select private.finish_attempts(%s::uuid[], %s::int[], %s::text[], %s::text[],"
                " %s::text[], %s::bigint[])",
                (
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                    ["completed"] * len(rows),
                    ["ok"] * len(rows),
                    [None] * len(rows),
                    [r[0] for r in rows],
                ),
            )
            done += len(rows)
        drained = time.perf_counter() - started
    return submitted, drained


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True, help="a checkout before flow control")
    parser.add_argument(
        "--head",
        type=Path,
        default=None,
        help="a checkout to compare with it (default: this one's migrations)",
    )
    parser.add_argument("--admin-url", required=True)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:6]
    urls = {
        "base": build(args.admin_url, f"flow_base_{tag}", args.base / "supabase" / "migrations"),
        "flow": build(
            args.admin_url,
            f"flow_flow_{tag}",
            args.head / "supabase" / "migrations" if args.head else migrate.MIGRATIONS_DIR,
        ),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
    try:
        for _ in range(args.rounds):
            for name, url in urls.items():
                times[name].append(round_on(url))
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            for url in urls.values():
                admin.execute(f'drop database if exists "{url.rsplit("/", 1)[1]}" with (force)')
    print("schema,submit_jobs_per_s,drain_jobs_per_s")
    medians = {}
    for name, rounds in times.items():
        submit = JOBS / statistics.median(r[0] for r in rounds)
        drain = JOBS / statistics.median(r[1] for r in rounds)
        medians[name] = (submit, drain)
        print(f"{name},{submit:.0f},{drain:.0f}")
    print(
        f"flow/base,{medians['flow'][0] / medians['base'][0]:.3f},"
        f"{medians['flow'][1] / medians['base'][1]:.3f}"
    )


if __name__ == "__main__":
    main()

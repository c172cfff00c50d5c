"""``python -m bench.profile``: where each job's time goes in the database, per statement.

Runs each workload on a fresh database of the benchmark's embedded Postgres (or
--database-url's server), with pg_stat_statements tracking nested statements too: our
``submit_job`` one at a time, ``submit_jobs`` 1,000 a call, a 1-worker drain; ``pgmq.send`` and
pgqueuer's enqueue and drain beside them, in the same run. For each it writes, per job, the
time, the shared buffers touched and dirtied, and the WAL bytes of every statement (top-level and
nested), and the whole workload's WAL from ``pg_current_wal_lsn()``.

The server must load pg_stat_statements (``shared_preload_libraries``); the embedded one is
started with it when this command starts it, and an already running one is checked.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench import batch_submit, ours, procs
from bench.peers import pgmq_raw, pgqueuer_peer
from bench.pg import DEFAULT_DATA_DIR, databases

TOP = 12  # statements shown per workload


@dataclass(frozen=True)
class Workload:
    name: str
    system: str
    jobs: int
    # Runs it; the seconds it timed itself (a drain, from go to done), or None.
    run: Callable[[], float | None]
    database: str


def _stats(url: str, jobs: int) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            select toplevel, calls, total_exec_time, rows, shared_blks_hit + shared_blks_read,
                   shared_blks_dirtied, wal_records, wal_bytes, query
            from pg_stat_statements
            where dbid = (select oid from pg_database where datname = current_database())
              and query not ilike '%pg_stat_statements%'
            order by total_exec_time desc
            """
        ).fetchall()
    out = []
    for top, calls, ms, nrows, blks, dirtied, wal_records, wal_bytes, query in rows:
        out.append(
            {
                "toplevel": top,
                "calls_per_job": calls / jobs,
                "us_per_job": ms * 1000 / jobs,
                "rows": nrows,
                "blocks_per_job": blks / jobs,
                "dirtied_per_job": dirtied / jobs,
                "wal_records_per_job": wal_records / jobs,
                "wal_bytes_per_job": float(wal_bytes) / jobs,
                "query": " ".join(query.split())[:110],
            }
        )
    return out


@contextmanager
def _snapshot_held(url: str, hold: bool) -> Iterator[None]:
    if not hold:
        yield
        return
    with psycopg.connect(url) as conn:
        conn.execute("begin isolation level repeatable read")
        conn.execute("select 1").fetchone()
        yield
        conn.rollback()


def _require_pg_stat_statements(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("show shared_preload_libraries").fetchone()
    if row is None or "pg_stat_statements" not in str(row[0]):
        raise SystemExit(
            "the server does not load pg_stat_statements: run"
            " alter system set shared_preload_libraries = 'pg_stat_statements';"
            " alter system set pg_stat_statements.track = 'all'; and restart it"
            " (for the embedded one: .devstack/bench-postgres, then pg_ctl restart)"
        )


def _reset(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("checkpoint")
        conn.execute("select pg_stat_statements_reset()")
        row = conn.execute("select pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


def _wal_since(url: str, start: int) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0]) - start


def _workloads(dbs: Any, jobs: int, log: Any) -> list[Workload]:
    def our_submit() -> None:
        with ours.sql_client(dbs.ours) as send:
            for n in range(jobs):
                send(n)

    def pgmq_send() -> None:
        with pgmq_raw.client(dbs.ours) as send:
            for n in range(jobs):
                send(n)

    def pgqueuer_enqueue() -> None:
        import asyncio

        from bench.peers.pgqueuer_peer import client

        async def run() -> None:
            async with client(dbs.pgqueuer) as send:
                for n in range(jobs):
                    await send(n)

        asyncio.run(run())

    def drain(system: str, url: str, workers: int = 1) -> Callable[[], float | None]:
        def run() -> float:
            seconds, handled = procs.timed_drain(system, url, workers, log, 600)
            if handled < jobs:
                raise RuntimeError(f"{system} drained {handled} of {jobs}")
            return seconds

        return run

    batches = max(1, jobs // batch_submit.BATCH)
    return [
        Workload("submit_job x1", "ours", jobs, our_submit, dbs.ours),
        Workload("pgmq.send x1", "pgmq", jobs, pgmq_send, dbs.ours),
        Workload("pgqueuer enqueue x1", "pgqueuer", jobs, pgqueuer_enqueue, dbs.pgqueuer),
        Workload(
            "submit_jobs x1000",
            "ours",
            batches * batch_submit.BATCH,
            lambda: batch_submit.time_ours(dbs.ours, batches),
            dbs.ours,
        ),
        Workload(
            "pgmq.send_batch x1000",
            "pgmq",
            batches * batch_submit.BATCH,
            lambda: batch_submit.time_pgmq(dbs.ours, batches),
            dbs.ours,
        ),
        Workload(
            "pgqueuer enqueue x1000",
            "pgqueuer",
            batches * batch_submit.BATCH,
            lambda: batch_submit.time_pgqueuer(dbs.pgqueuer, batches),
            dbs.pgqueuer,
        ),
        Workload("drain, 1 worker", "ours", jobs, drain("ours", dbs.ours), dbs.ours),
        Workload("drain, 4 workers", "ours", jobs, drain("ours", dbs.ours, 4), dbs.ours),
        Workload(
            "pgmq read+archive, 1 worker",
            "pgmq",
            jobs,
            drain("pgmq", dbs.ours),
            dbs.ours,
        ),
        Workload(
            "pgqueuer drain, 1 worker",
            "pgqueuer",
            jobs,
            drain("pgqueuer", dbs.pgqueuer),
            dbs.pgqueuer,
        ),
        Workload(
            "pgqueuer drain, 4 workers",
            "pgqueuer",
            jobs,
            drain("pgqueuer", dbs.pgqueuer, 4),
            dbs.pgqueuer,
        ),
    ]


def _prepare(workload: Workload, dbs: Any, jobs: int) -> None:
    """Empty queues; a drain's backlog filled (not measured)."""
    ours.reset(dbs.ours)
    pgmq_raw.reset(dbs.ours)
    pgqueuer_peer.reset(dbs.pgqueuer)
    if workload.name.startswith("drain"):
        ours.fill(dbs.ours, jobs)
    elif workload.name.startswith("pgmq read"):
        pgmq_raw.fill(dbs.ours, jobs)
    elif workload.name.startswith("pgqueuer drain"):
        pgqueuer_peer.fill(dbs.pgqueuer, jobs)
    else:
        # Not on empty tables: statistics saying "no rows" would have the foreign keys' checks
        # (planned once a session) scan the whole table on every insert that follows.
        return
    with psycopg.connect(workload.database, autocommit=True) as conn:
        conn.execute("vacuum analyze")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/profile.csv"))
    parser.add_argument("--only", help="workload names containing this text")
    parser.add_argument(
        "--hold-snapshot",
        action="store_true",
        help="hold a repeatable-read snapshot open in the workload's database meanwhile (as a"
        " long transaction, a backup or an ANALYZE does): deleted rows cannot be pruned",
    )
    args = parser.parse_args(argv)
    log = open(args.out.with_suffix(".log"), "w")  # noqa: SIM115 - the run's whole length
    records: list[dict[str, Any]] = []
    with databases(args.database_url, args.data_dir) as dbs:
        _require_pg_stat_statements(dbs.ours)
        with psycopg.connect(dbs.ours, autocommit=True) as conn:
            conn.execute("create extension if not exists pg_stat_statements")
        pgqueuer_peer.install(dbs.pgqueuer)
        with psycopg.connect(dbs.pgqueuer, autocommit=True) as conn:
            conn.execute("create extension if not exists pg_stat_statements")
        ours.set_webhook(dbs.ours, None)
        for workload in _workloads(dbs, args.jobs, log):
            if args.only and args.only not in workload.name:
                continue
            _prepare(workload, dbs, args.jobs)
            start = _reset(workload.database)
            with _snapshot_held(workload.database, args.hold_snapshot):
                began = time.perf_counter()
                timed = workload.run()
                seconds = time.perf_counter() - began if timed is None else timed
            wal = _wal_since(workload.database, start)
            stats = _stats(workload.database, workload.jobs)
            print(
                f"\n== {workload.name}: {workload.jobs / seconds:,.0f} jobs/s,"
                f" {wal / workload.jobs:,.0f} WAL bytes/job (whole server)"
            )
            print(f"{'top':>3} {'calls':>6} {'us':>8} {'blks':>6} {'dirt':>5} {'walB':>7}  query")
            for s in stats[:TOP]:
                print(
                    f"{'T' if s['toplevel'] else ' ':>3} {s['calls_per_job']:6.2f}"
                    f" {s['us_per_job']:8.1f} {s['blocks_per_job']:6.1f}"
                    f" {s['dirtied_per_job']:5.2f} {s['wal_bytes_per_job']:7.0f}  {s['query']}"
                )
            for s in stats:
                records.append(
                    {
                        "workload": workload.name,
                        "system": workload.system,
                        "jobs_per_s": round(workload.jobs / seconds),
                        "wal_bytes_per_job_server": round(wal / workload.jobs),
                        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()},
                    }
                )
    if records:
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.metrics_query``: what public.queue_metrics costs (issue 23).

1. Fills a fresh database with ``--archived`` finished jobs spread over a day (their archived
   messages in pgmq.a_work_queue) and ``--waiting`` pending ones, and times the metrics call
   (``--window`` seconds) against the target of 50 ms.
2. Measures what the operators' views cost the queue, as ratios inside the run, in alternating
   rounds: submit (1 client) and drain (1 worker) throughput on that database with and without
   the partial indexes the views add, and with and without a poller calling the metrics every
   2 s (``--poll``).

Writes the rows to ``--out`` (CSV) and the metrics call's plan beside it.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench import ours, procs
from bench.pg import DEFAULT_DATA_DIR, databases
from devstack.services import ROOT

METRICS_CALL = "select public.queue_metrics(%(window)s)"
# The partial indexes issue 23 adds (supabase/schema/10_tables/20_job_results.sql), as created.
NEW_INDEXES = ("job_results_finished", "job_results_failed")
KINDS = ("noop", "echo", "fail", "simulate")
TARGET_MS = 50.0


def populate(url: str, archived: int, waiting: int) -> None:
    """``archived`` finished jobs over the last 24 h (about 2 % failed, 1 % cancelled) with
    their archived messages, and ``waiting`` pending jobs with their queued messages. Written
    as rows directly (triggers off): what a day of the queue leaves, without a day of work."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute(
            """
            insert into public.job_results (task_name, kind, status, error, attempts, msg_id,
                created_at, started_at, finished_at, updated_at, run)
            select 'archived', (%(kinds)s::text[])[1 + i %% 4],
                   case when i %% 100 < 2 then 'failed' when i %% 100 = 2 then 'cancelled'
                        else 'completed' end,
                   case when i %% 100 < 2 then 'ValueError: bad input ' || (i %% 7)
                        || E'\nTraceback (most recent call last): ...' end,
                   1, i, t - interval '40 ms', t - interval '20 ms', t, t, 1
            from (select i, now() - (i * (86400.0 / %(n)s)) * interval '1 second' as t
                  from generate_series(1, %(n)s) i) s
            """,
            {"kinds": list(KINDS), "n": archived},
        )
        conn.execute(
            """
            insert into pgmq.a_work_queue (msg_id, read_ct, enqueued_at, archived_at, vt, message)
            select i, 1, now() - i * interval '86 ms', now() - i * interval '86 ms',
                   now() - i * interval '86 ms', jsonb_build_object('job_id', gen_random_uuid())
            from generate_series(1, %(n)s) i
            """,
            {"n": archived},
        )
        # The queue's own messages come after the archived ones.
        conn.execute(
            "select setval(pg_get_serial_sequence('pgmq.q_work_queue', 'msg_id'), %(n)s + 1)",
            {"n": archived},
        )
        conn.execute(
            """
            with jobs as (
              insert into public.job_results (task_name, kind, status, created_at)
              select 'waiting', (%(kinds)s::text[])[1 + i %% 4], 'pending',
                     now() - (i %% 600) * interval '1 second'
              from generate_series(1, %(n)s) i
              returning job_id
            )
            insert into pgmq.q_work_queue (vt, message)
            select now(), jsonb_build_object('job_id', job_id) from jobs
            """,
            {"kinds": list(KINDS), "n": waiting},
        )
        conn.execute("set session_replication_role = origin")
        conn.execute("vacuum analyze public.job_results")
        conn.execute("vacuum analyze pgmq.a_work_queue")
        conn.execute("vacuum analyze pgmq.q_work_queue")


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) the server process ``pid`` has used, when the server runs on
    this machine (Linux /proc); None otherwise."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_metrics(url: str, window_s: int, calls: int) -> tuple[list[float], float | None]:
    """Milliseconds of each of ``calls`` metrics calls, one connection, after one warm-up; and
    the server's CPU milliseconds a call, which a busy shared machine does not inflate the way
    it does the wall-clock times."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(METRICS_CALL, {"window": window_s}).fetchone()
        row = conn.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        cpu_before = backend_cpu_s(row[0])
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            conn.execute(METRICS_CALL, {"window": window_s}).fetchone()
            times.append((time.perf_counter() - began) * 1000)
        cpu_after = backend_cpu_s(row[0])
    cpu_ms = None
    if cpu_before is not None and cpu_after is not None:
        cpu_ms = (cpu_after - cpu_before) * 1000 / calls
    return times, cpu_ms


def plan(url: str, window_s: int) -> str:
    """The plans of the statements inside the call (auto_explain is not loaded everywhere):
    the function's two reads of job_results, as it runs them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("load 'auto_explain'")
        conn.execute("set auto_explain.log_min_duration = 0")
        conn.execute("set auto_explain.log_nested_statements = on")
        conn.execute("set auto_explain.log_analyze = on")
        conn.execute("set client_min_messages = log")
        conn.execute("set auto_explain.log_level = notice")
        notices: list[str] = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        conn.execute(METRICS_CALL, {"window": window_s}).fetchone()
    return "\n\n".join(notices)


@contextmanager
def poller(url: str, every_s: float) -> Iterator[list[float]]:
    """A thread calling the metrics every ``every_s`` seconds while the block runs; yields the
    list its call times (ms) go into."""
    stop = threading.Event()
    times: list[float] = []

    def loop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                began = time.perf_counter()
                conn.execute(METRICS_CALL, {"window": 300}).fetchone()
                times.append((time.perf_counter() - began) * 1000)
                stop.wait(every_s)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield times
    finally:
        stop.set()
        thread.join()


def clear_bench_jobs(url: str) -> None:
    """Forget the jobs a round made, keeping the archived day (their archived messages stay:
    more archive)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from public.job_results where task_name = %s", (ours.TASK_NAME,))


def drain_rate(url: str, jobs: int, log: object) -> float:
    ours.fill(url, jobs)
    seconds, handled = procs.timed_drain("ours", url, 1, log, 600.0)  # type: ignore[arg-type]
    if handled < jobs:
        raise RuntimeError(f"the drain handled {handled} of {jobs}")
    clear_bench_jobs(url)
    return jobs / seconds


def submit_rate(url: str, jobs: int) -> float:
    rate = jobs / ours.time_submit_sql(url, 1, jobs)  # it answers seconds
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pgmq.purge_queue('work_queue')")
        conn.execute("delete from pgmq.q_work_queue")
    clear_bench_jobs(url)
    return rate


def set_indexes(url: str, present: bool, definitions: dict[str, str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name in NEW_INDEXES:
            if present:
                conn.execute(
                    definitions[name].replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
                )
            else:
                conn.execute(f"drop index if exists public.{name}")
        conn.execute("analyze public.job_results")


def index_definitions(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select indexname, indexdef from pg_indexes where schemaname = 'public'"
            " and indexname = any(%s)",
            (list(NEW_INDEXES),),
        ).fetchall()
    return {name: definition for name, definition in rows}


def _median(run: Callable[[], float], rounds: int) -> float:
    return statistics.median(run() for _ in range(rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics_query",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", default=None, help="a server to use (CREATEDB)")
    parser.add_argument("--archived", type=int, default=1_000_000)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=300)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--drain-jobs", type=int, default=5_000)
    parser.add_argument("--submit-jobs", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/issue23_metrics.csv")
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, float]] = []

    def record(metric: str, unit: str, value: float) -> None:
        rows.append((metric, unit, value))
        print(f"{metric:48} {value:12.2f} {unit}", flush=True)

    log = sys.stderr
    with databases(args.database_url, DEFAULT_DATA_DIR) as dbs:
        url = dbs.ours
        ours.set_webhook(url, None)
        began = time.monotonic()
        populate(url, args.archived, args.waiting)
        print(f"filled in {time.monotonic() - began:.1f} s", flush=True)
        for window in (60, args.window, 3600):
            times, cpu_ms = time_metrics(url, window, args.calls)
            if cpu_ms is not None:
                record(f"metrics_{window}s_server_cpu_per_call", "ms", cpu_ms)
            record(f"metrics_{window}s_p50", "ms", statistics.median(times))
            record(f"metrics_{window}s_p95", "ms", statistics.quantiles(times, n=20)[18])
            record(f"metrics_{window}s_max", "ms", max(times))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".plan.txt").write_text(plan(url, args.window) + "\n")
        if not args.skip_overhead:
            # The waiting jobs were for the metrics; the throughput rounds start from an empty
            # queue beside the archived day.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("select pgmq.purge_queue('work_queue')")
                conn.execute("delete from public.job_results where task_name = 'waiting'")
                conn.execute("vacuum analyze public.job_results")
            definitions = index_definitions(url)
            results: dict[str, list[float]] = {}
            for round_no in range(args.rounds):
                # ABBA: every other round the other order, so a drift in the machine's load
                # weighs on both sides alike.
                order = (False, True) if round_no % 2 == 0 else (True, False)
                for present in order:
                    set_indexes(url, present, definitions)
                    label = "with_indexes" if present else "without_indexes"
                    results.setdefault(f"submit_{label}", []).append(
                        submit_rate(url, args.submit_jobs)
                    )
                    results.setdefault(f"drain_{label}", []).append(
                        drain_rate(url, args.drain_jobs, log)
                    )
                for polled in order:
                    label = "polled" if polled else "unpolled"
                    if polled:
                        with poller(url, args.poll):
                            results.setdefault(f"drain_{label}", []).append(
                                drain_rate(url, args.drain_jobs, log)
                            )
                    else:
                        results.setdefault(f"drain_{label}", []).append(
                            drain_rate(url, args.drain_jobs, log)
                        )
            for name, values in results.items():
                record(f"{name}_median", "jobs/s", statistics.median(values))
            ratio = statistics.median(results["submit_with_indexes"]) / statistics.median(
                results["submit_without_indexes"]
            )
            record("submit_ratio_indexes", "x", ratio)
            ratio = statistics.median(results["drain_with_indexes"]) / statistics.median(
                results["drain_without_indexes"]
            )
            record("drain_ratio_indexes", "x", ratio)
            ratio = statistics.median(results["drain_polled"]) / statistics.median(
                results["drain_unpolled"]
            )
            record("drain_ratio_polled_every_2s", "x", ratio)
    with args.out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "unit", "value"])
        writer.writerows((m, u, f"{v:.3f}") for m, u, v in rows)
    target = next(v for m, _, v in rows if m == f"metrics_{args.window}s_p95")
    print(f"{'PASS' if target < TARGET_MS else 'MISS'}: p95 {target:.1f} ms, target {TARGET_MS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

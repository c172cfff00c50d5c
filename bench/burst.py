"""Issue 17's scale measurements through the whole local stack (bench/full_stack.py: submit,
the relay paced like pg_net, the webhook, process_job; no sweeper).

1. A burst of ``--jobs`` (1,000) ``simulate`` jobs of ``--seconds`` (0.5) via ``POST /jobs``
   (``--submit batch``: arrays of up to 1,000; ``single``: one POST each from ``--clients``
   threads): wall time from the first POST to the last completion, e2e p50/p95 (POST sent to
   ``finished_at``), webhook calls per job (the request queue's id sequence, so requests the
   relay already sent still count), jobs that ran more than once (attempts > 1), jobs not
   completed by ``--timeout``.
2. ``--noop-jobs`` (10,000) no-op jobs submitted in one transaction, ``--noop-rounds`` (2) times
   back to back on the same queue (the second over the first's dead tuples): drain time from
   commit to the last completion, the rate of the first and last 2,000 completions, webhook
   calls, dead tuples in the queue table before and after, and completions per second (a CSV of
   its own).

``--ceiling N`` sets the database's worker ceiling (``max_workers``, 5 by default): the number
of process_job drains the wake-ups may bring up at once; ``--env KEY=VALUE`` passes settings to
process_job.

    python -m bench.burst [--jobs 1000] [--seconds 0.5] [--submit batch|single]
        [--noop-jobs 10000] [--ceiling 20] [--database-url URL] [--out bench/results]

Rows are appended to ``<out>/burst.csv`` (one per metric, with the git revision, the parameters
and the load average), the per-second rate to ``<out>/burst_noop_rate.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import burst_report
from bench.full_stack import FullStack, full_stack
from bench.pg import DEFAULT_DATA_DIR, databases
from bench.settings import BenchSettings
from bench.stats import percentile

NEXT_ID = "select nextval(pg_get_serial_sequence('net.http_request_queue', 'id'))"
BATCH_LIMIT = 1000  # POST /jobs takes arrays of up to 1,000
EDGE = 2000  # the first and last this many no-op completions are compared


@dataclass
class Result:
    phase: str
    params: str
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)
    series: list[tuple[int, int]] = field(default_factory=list)  # (second, completions)

    def add(self, name: str, value: float, unit: str) -> None:
        self.metrics[name] = (value, unit)


def _next_id(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(NEXT_ID).fetchone()
    assert row is not None
    return int(row[0])


def _finished(url: str, tag: str) -> tuple[int, int, int, list[tuple[str, float, int]]]:
    """(jobs, completed, attempts > 1, [(job_id, finished_at, attempts) of finished jobs])."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select job_id::text, status, extract(epoch from finished_at)::float8, attempts"
            " from job_results where task_name = %s",
            (tag,),
        ).fetchall()
    done = [(j, float(f), int(a)) for j, s, f, a in rows if s == "completed" and f is not None]
    retried = sum(1 for *_, a in rows if a > 1)
    return len(rows), len(done), retried, done


def _wait_completed(url: str, tag: str, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select count(*) from job_results where task_name = %s and status = 'completed'",
                (tag,),
            ).fetchone()
            if row is not None and row[0] >= expected:
                return
            time.sleep(0.1)  # polling the condition, bounded by the deadline


def _post_all(
    stack: FullStack, items: list[dict[str, Any]], mode: str, clients: int
) -> dict[str, float]:
    """Submit ``items``; each job's id with the time its POST was sent."""
    sent: dict[str, float] = {}

    def batch(chunk: list[dict[str, Any]]) -> None:
        at = time.time()
        for job_id in stack.post_jobs(chunk)["job_ids"]:
            sent[str(job_id)] = at

    def single(item: dict[str, Any]) -> None:
        at = time.time()
        sent[str(stack.post_jobs(item)["job_id"])] = at

    with ThreadPoolExecutor(clients) as pool:
        if mode == "batch":
            chunks = [items[i : i + BATCH_LIMIT] for i in range(0, len(items), BATCH_LIMIT)]
            list(pool.map(batch, chunks))
        else:
            list(pool.map(single, items))
    return sent


def simulate_burst(stack: FullStack, args: argparse.Namespace) -> Result:
    url, tag = stack.database_url, "burst-simulate"
    params = f"jobs={args.jobs} seconds={args.seconds} submit={args.submit} ceiling={args.ceiling}"
    result = Result("simulate", params)
    items = [
        {"task_name": tag, "kind": "simulate", "payload": {"seconds": args.seconds}}
        for _ in range(args.jobs)
    ]
    first_id = _next_id(url)
    began = time.time()
    sent = _post_all(stack, items, args.submit, args.clients)
    result.add("submit", time.time() - began, "s")
    _wait_completed(url, tag, args.jobs, args.timeout)
    calls = _next_id(url) - first_id - 1
    jobs, completed, retried, done = _finished(url, tag)
    e2e = [finished - sent[job_id] for job_id, finished, _ in done if job_id in sent]
    result.add("wall_to_all_completed", max((f for _, f, _ in done), default=began) - began, "s")
    result.add("e2e_p50", percentile(e2e, 50) if e2e else float("nan"), "s")
    result.add("e2e_p95", percentile(e2e, 95) if e2e else float("nan"), "s")
    result.add("webhook_calls", calls, "calls")
    result.add("webhook_calls_per_job", calls / args.jobs, "calls/job")
    result.add("ran_more_than_once", retried, "jobs")
    result.add("not_completed", jobs - completed, "jobs")
    return result


def noop_bursts(stack: FullStack, args: argparse.Namespace) -> list[Result]:
    """``--noop-rounds`` bursts back to back on one queue: each after the first drains over the
    dead tuples its predecessors left (unless autovacuum got there first)."""
    return [noop_burst(stack, args, n) for n in range(1, args.noop_rounds + 1)]


def noop_burst(stack: FullStack, args: argparse.Namespace, round_no: int) -> Result:
    url, tag, count = stack.database_url, f"burst-noop-{round_no}", args.noop_jobs
    dead_before = _dead_tuples(url)
    params = f"jobs={count} one transaction round={round_no} ceiling={args.ceiling}"
    result = Result("noop", params)
    result.add("queue_dead_tuples_before", dead_before, "tuples")
    first_id = _next_id(url)
    with psycopg.connect(url) as conn:
        conn.execute(
            "select public.submit_job(%s, '{}', kind => 'noop') from generate_series(1, %s)",
            (tag, count),
        )
        conn.commit()
    committed = time.time()
    _wait_completed(url, tag, count, args.timeout)
    calls = _next_id(url) - first_id - 1
    jobs, completed, retried, done = _finished(url, tag)
    times = sorted(f for _, f, _ in done)
    result.add("drain", (times[-1] - committed) if times else float("nan"), "s")
    if len(times) >= 2 * EDGE:
        first = times[EDGE - 1] - committed
        last = times[-1] - times[-EDGE - 1]
        result.add(f"rate_first_{EDGE}", EDGE / first if first > 0 else float("inf"), "jobs/s")
        result.add(f"rate_last_{EDGE}", EDGE / last if last > 0 else float("inf"), "jobs/s")
    result.add("jobs_per_s", completed / (times[-1] - committed) if times else 0.0, "jobs/s")
    result.add("webhook_calls", calls, "calls")
    result.add("ran_more_than_once", retried, "jobs")
    result.add("not_completed", jobs - completed, "jobs")
    result.add("queue_dead_tuples_at_end", _dead_tuples(url), "tuples")
    seconds: dict[int, int] = {}
    for finished in times:
        second = int(finished - committed)
        seconds[second] = seconds.get(second, 0) + 1
    result.series = sorted(seconds.items())
    return result


def _dead_tuples(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select coalesce(sum(n_dead_tup), 0) from pg_stat_user_tables"
            " where schemaname = 'pgmq' and relname = 'q_work_queue'"
        ).fetchone()
    return int(row[0]) if row else 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--submit", choices=["batch", "single"], default="batch")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--noop-jobs", type=int, default=10_000)
    parser.add_argument("--noop-rounds", type=int, default=2)
    parser.add_argument("--ceiling", type=int, default=None)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--database-url", default=BenchSettings.from_env().database_url)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, default=burst_report.RESULTS)
    parser.add_argument("--log", type=Path, default=Path(".devstack/bench-burst.log"))
    parser.add_argument("--skip", choices=["simulate", "noop"], action="append", default=[])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    env = dict(item.split("=", 1) for item in args.env)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    load_before = os.getloadavg()[0]
    with args.log.open("a") as log, databases(args.database_url, args.data_dir) as dbs:
        phases: list[tuple[str, Callable[[FullStack, argparse.Namespace], list[Result]]]] = [
            ("simulate", lambda s, a: [simulate_burst(s, a)]),
            ("noop", noop_bursts),
        ]
        for name, phase in phases:
            if name in args.skip:
                continue
            print(f"burst: {name} ...", file=sys.stderr, flush=True)
            with full_stack(dbs.ours, log, env, args.ceiling) as stack:
                done = phase(stack, args)
            for result in done:
                burst_report.show(f"{result.phase} {result.params}", result.metrics)
            results.extend(done)
    burst_report.write(args.out, results, load_before, os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench`` (``make bench``): the benchmark, in one command.

Runs on an embedded Postgres of its own (in .devstack/bench-postgres) or on DATABASE_URL's
server (one fresh database a system, dropped afterwards; needs CREATEDB), and on Redis at
REDIS_URL or 127.0.0.1:6379 (a private redis-server if none answers; Celery is skipped when
there is neither). Prints a table of ours against each peer, PASS/MISS per target, and writes
bench/results/latest.csv and latest.png (see --out).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    batch_submit,
    cold_start,
    dispatch_latency,
    drain_throughput,
    e2e_latency,
    fanout,
    realtime_latency,
    report,
    submit_throughput,
    targets,
    wakeups,
)
from bench.config import METRICS, QUICK, Sizes
from bench.context import Context
from bench.peers import celery_peer, pgqueuer_peer, procrastinate_peer
from bench.pg import DEFAULT_DATA_DIR, databases
from bench.rows import PEERS, PGQUEUER, PROCRASTINATE, Row
from bench.settings import BenchSettings
from devstack.services import ROOT

RUNNERS: dict[str, Callable[[Context], list[Row]]] = {
    "cold": cold_start.run,
    "submit": submit_throughput.run,
    "batch": batch_submit.run,
    "drain": drain_throughput.run,
    "dispatch": dispatch_latency.run,
    "realtime": realtime_latency.run,
    "e2e": e2e_latency.run,
    "fanout": fanout.run,
    "wakeups": wakeups.run,
}


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _names(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = set(names) - set(allowed)
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(sorted(unknown))}")
        return names

    return parse


SIZE_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "submit_jobs": ("jobs a system submits in SQL, per client count", int),
    "http_jobs": ("jobs submitted through the submit function, per client count", int),
    "submit_clients": ("concurrent submitting clients, e.g. 1,8", _counts),
    "batch_jobs": ("jobs a system submits in batches of 1,000", int),
    "rounds": ("interleaved rounds the submit jobs are split into", int),
    "dispatch_jobs": ("sequential jobs a system for dispatch latency", int),
    "drain_jobs": ("backlog size for the drain", int),
    "drain_workers": ("worker process counts for the drain, e.g. 1,4", _counts),
    "realtime_updates": ("job_results updates for Realtime latency", int),
    "realtime_subscribers": ("subscriber counts for Realtime latency, e.g. 1,200", _counts),
    "cold_repeats": ("fresh processes per function for cold start", int),
    "e2e_jobs": ("jobs for end-to-end latency with a warm worker", int),
    "e2e_cold_jobs": ("jobs for end-to-end latency with a cold worker", int),
    "e2e_cold_gap_s": ("seconds between cold end-to-end jobs", float),
    "fanout_updates": ("changes, one at a time, for the gateway's fan-out latency", int),
    "fanout_burst": ("changes in a burst for the gateway's deliveries/s", int),
    "wakeup_seconds": ("seconds of sustained 1,000 jobs/s submit for wake-ups per job", float),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    env = BenchSettings.from_env()
    parser.add_argument("--database-url", default=env.database_url)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="the embedded Postgres' folder (without --database-url)",
    )
    parser.add_argument("--redis-url", default=env.redis_url)
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench" / "results",
        help="where latest.csv, latest.png and latest.log go",
    )
    parser.add_argument(
        "--only",
        type=_names(METRICS),
        default=METRICS,
        help=f"metrics to run, of {','.join(METRICS)}",
    )
    parser.add_argument(
        "--peers", type=_names(PEERS), default=PEERS, help=f"peers to measure, of {','.join(PEERS)}"
    )
    for name, (text, kind) in SIZE_OPTIONS.items():
        default = getattr(Sizes(), name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, help=f"{text} (default {shown})"
        )
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else Sizes()
    given = {name: getattr(args, name) for name in SIZE_OPTIONS if getattr(args, name)}
    return dataclasses.replace(base, **given)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "latest.log"
    began = time.monotonic()

    def say(text: str) -> None:
        print(f"[bench {time.monotonic() - began:6.1f}s] {text}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    failed: list[str] = []
    with (
        log_path.open("w") as log,
        celery_peer.redis_server(args.redis_url) as redis_url,
        databases(args.database_url, args.data_dir) as dbs,
    ):
        if redis_url is None and "celery" in args.peers:
            say("no Redis and no redis-server: Celery is skipped")
        if redis_url is not None:
            celery_peer.configure(redis_url)
        ctx = Context(sizes, dbs, redis_url, log, frozenset(args.peers), say)
        if ctx.wants(PGQUEUER):
            pgqueuer_peer.install(dbs.pgqueuer)
        if ctx.wants(PROCRASTINATE):
            procrastinate_peer.install(dbs.procrastinate)
        for metric in METRICS:
            if metric not in args.only:
                continue
            try:
                rows += RUNNERS[metric](ctx)
            except Exception as exc:
                failed.append(metric)
                say(f"{metric} failed: {exc!r} (details in {log_path})")
                log.write(traceback.format_exc())
                log.flush()
    checked = targets.evaluate(rows)
    print(report.table(rows, checked))
    report.write_csv(args.out / "latest.csv", rows, checked)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report.write_png(
        args.out / "latest.png",
        rows,
        f"supajobs benchmark, {stamp}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}{' (quick)' if args.quick else ''}",
    )
    say(f"wrote {args.out / 'latest.csv'} and {args.out / 'latest.png'}")
    if failed:
        say(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

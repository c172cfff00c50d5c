"""The floor under issue 24's throughput targets: what a submit must write, written as cheaply
as SQL can, against the peers' own calls in the same run.

    python -m bench.floor [--jobs 3000] [--batches 10] [--rounds 3] [--out FILE.csv]

A job in this system is at least a row in ``job_results`` (what the API, the page and the
policies read) and a message in the ``work_queue`` (what wakes and feeds a worker), written in
one transaction; a submit as built also writes its first ``job_events`` row and one
``realtime.messages`` row (issue 21's send). Each floor writes those rows with plain inserts in
one statement, with every trigger off (``session_replication_role = replica``: no history,
Broadcast or wake-up triggers, no foreign-key checks), so nothing of ours runs but the writes
themselves. Beside them, in interleaved rounds on the same server: ``pgmq.send`` (one message
from one client, psycopg, as the submit metric calls it), ``submit_job``, and for 1,000 jobs in
one call ``submit_jobs`` against pgqueuer's batched enqueue (asyncpg). A floor below a target's
ratio means no submit that keeps those writes can reach it on this schema. The drain's floor
likewise: one client claiming 10 at a time and recording their outcomes with the writes the
guarantees need (the claim committed before the tasks run, the outcomes after, each job's two
events and four Broadcast rows, the messages archived), against pgqueuer's worker and ours,
each draining the same backlog of no-op jobs with one worker.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench import ours, procs
from bench.batch_submit import BATCH, time_pgqueuer
from bench.batch_submit import time_ours as batch_time_ours
from bench.peers import pgmq_raw, pgqueuer_peer
from bench.pg import DEFAULT_DATA_DIR, databases
from devstack.config import generate_webhook_secret

# One job: its row and its message, in one statement (one round trip, one transaction). With
# VALUES, not the set-based form below with n = 1, which cost a quarter more a call: the floor
# is the cheapest way to write the rows.
ROW_AND_MESSAGE = """
with j as (
  insert into public.job_results (task_name, kind) values ('bench', 'noop') returning job_id
), m as (
  insert into pgmq.q_work_queue (vt, message)
  select clock_timestamp(), jsonb_build_object('job_id', j.job_id, 'task_name', 'bench') from j
  returning msg_id
)
select count(*) from m
"""
# The same, with the first history row and one Broadcast row: every row a submit writes.
EVERY_ROW = """
with j as (
  insert into public.job_results (task_name, kind) values ('bench', 'noop')
  returning job_id, status
), e as (
  insert into public.job_events (job_id, run, attempt, event, status)
  select j.job_id, 1, 0, 'submitted', j.status from j
), b as (
  insert into realtime.messages (topic, extension, payload, event, private)
  select 'jobs:public', 'broadcast', jsonb_build_object('job_id', j.job_id), 'job', true from j
), m as (
  insert into pgmq.q_work_queue (vt, message)
  select clock_timestamp(), jsonb_build_object('job_id', j.job_id, 'task_name', 'bench') from j
  returning msg_id
)
select count(*) from m
"""
# 1,000 jobs in one statement, set-based.
BATCH_ROWS_AND_MESSAGES = """
with j as (
  insert into public.job_results (task_name, kind)
  select 'bench', 'noop' from generate_series(1, %(n)s::int) returning job_id
), m as (
  insert into pgmq.q_work_queue (vt, message)
  select clock_timestamp(), jsonb_build_object('job_id', j.job_id, 'task_name', 'bench') from j
  returning msg_id
)
select count(*) from m
"""
BATCH_EVERY_ROW = """
with j as (
  insert into public.job_results (task_name, kind)
  select 'bench', 'noop' from generate_series(1, %(n)s::int) returning job_id, status
), e as (
  insert into public.job_events (job_id, run, attempt, event, status)
  select j.job_id, 1, 0, 'submitted', j.status from j
), b as (
  insert into realtime.messages (topic, extension, payload, event, private)
  select 'jobs:public', 'broadcast', jsonb_build_object('job_id', j.job_id), 'job', true from j
), m as (
  insert into pgmq.q_work_queue (vt, message)
  select clock_timestamp(), jsonb_build_object('job_id', j.job_id, 'task_name', 'bench') from j
  returning msg_id
)
select count(*) from m
"""

# A drain's writes for a batch of 10, in the two transactions the guarantees need (the claim
# commits before the tasks run; the outcomes after): hide the messages and mark the jobs
# running, with a 'started' event and the two Broadcast rows (the owner's topic and the job's);
# then mark them completed, with their events and rows, and archive the messages.
DRAIN_CLAIM = """
with picked as (
  select q.msg_id, (q.message ->> 'job_id')::uuid as job_id from pgmq.q_work_queue q
  where q.vt <= clock_timestamp() order by q.msg_id limit 10 for update skip locked
), hidden as (
  update pgmq.q_work_queue q set vt = clock_timestamp() + interval '30 seconds',
         read_ct = q.read_ct + 1
  from picked where q.msg_id = picked.msg_id returning q.msg_id
), started as (
  update public.job_results j set status = 'running', attempts = j.attempts + 1,
         started_at = clock_timestamp(), claimed_by = 'floor'
  from picked where j.job_id = picked.job_id
  returning j.job_id, j.run, j.attempts, j.status
), e as (
  insert into public.job_events (job_id, run, attempt, event, status)
  select s.job_id, s.run, s.attempts, 'started', s.status from started s
), b as (
  insert into realtime.messages (topic, extension, payload, event, private)
  select t.topic, 'broadcast', jsonb_build_object('job_id', s.job_id), 'job', true
  from started s cross join lateral unnest(array['jobs:public', 'jobs:job:' || s.job_id]) t(topic)
)
select array_agg(p.msg_id), array_agg(p.job_id), (select count(*) from hidden) from picked p
"""
DRAIN_FINISH = """
with done as (
  update public.job_results j set status = 'completed', finished_at = clock_timestamp()
  where j.job_id = any (%(jobs)s::uuid[])
  returning j.job_id, j.run, j.attempts, j.status
), e as (
  insert into public.job_events (job_id, run, attempt, event, status)
  select d.job_id, d.run, d.attempts, 'completed', d.status from done d
), b as (
  insert into realtime.messages (topic, extension, payload, event, private)
  select t.topic, 'broadcast', jsonb_build_object('job_id', d.job_id), 'job', true
  from done d cross join lateral unnest(array['jobs:public', 'jobs:job:' || d.job_id]) t(topic)
), archived as (
  delete from pgmq.q_work_queue q where q.msg_id = any (%(messages)s::bigint[])
  returning q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message
)
insert into pgmq.a_work_queue (msg_id, read_ct, enqueued_at, vt, message)
select a.msg_id, a.read_ct, a.enqueued_at, a.vt, a.message from archived a
"""

Timer = Callable[[], float]  # seconds for one round's share of the work


def _floor(database_url: str, statement: str, calls: int, n: int) -> float:
    """Seconds for ``calls`` statements, every trigger off (the writes alone)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        began = time.perf_counter()
        for _ in range(calls):
            conn.execute(statement, {"n": n}).fetchone()
        return time.perf_counter() - began


def _drain_floor(database_url: str, jobs: int) -> float:
    """Seconds for one client to drain ``jobs`` no-op jobs with the floor's writes alone."""
    ours.fill(database_url, jobs)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        began = time.perf_counter()
        while True:
            row = conn.execute(DRAIN_CLAIM).fetchone()
            if row is None or not row[0]:
                break
            conn.execute(DRAIN_FINISH, {"messages": row[0], "jobs": row[1]})
        return time.perf_counter() - began


def _drain(system: str, database_url: str, jobs: int, fill: Callable[[str, int], None]) -> float:
    fill(database_url, jobs)
    seconds, handled = procs.timed_drain(system, database_url, 1, sys.stderr, 600)
    if handled != jobs:
        raise RuntimeError(f"{system} handled {handled} of {jobs} jobs")
    return seconds


def _reset(database_url: str) -> None:
    ours.reset(database_url)
    pgmq_raw.reset(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from realtime.messages")


def measure(
    database_url: str, pgqueuer_url: str, jobs: int, batches: int, rounds: int, drain_jobs: int
) -> dict[str, dict[str, float]]:
    """Jobs/s of each way, per group (one job a call; 1,000 a call), summed over the rounds."""
    ours.set_webhook(database_url, ours.DEAD_WEBHOOK, generate_webhook_secret())
    pgqueuer_peer.install(pgqueuer_url)
    per_round, batches_per_round = max(1, jobs // rounds), max(1, batches // rounds)
    drain_per_round = max(1, drain_jobs // rounds)
    groups: dict[str, dict[str, Timer]] = {
        "one job a call, 1 client": {
            "pgmq.send": lambda: pgmq_raw.time_submit(database_url, 1, per_round),
            "floor: row + message": lambda: _floor(database_url, ROW_AND_MESSAGE, per_round, 1),
            "floor: every row a submit writes": lambda: _floor(
                database_url, EVERY_ROW, per_round, 1
            ),
            "submit_job": lambda: ours.time_submit_sql(database_url, 1, per_round),
        },
        f"{BATCH:,} jobs a call, 1 client": {
            "pgqueuer enqueue": lambda: time_pgqueuer(pgqueuer_url, batches_per_round),
            "floor: rows + messages": lambda: _floor(
                database_url, BATCH_ROWS_AND_MESSAGES, batches_per_round, BATCH
            ),
            "floor: every row a submit writes": lambda: _floor(
                database_url, BATCH_EVERY_ROW, batches_per_round, BATCH
            ),
            "submit_jobs": lambda: batch_time_ours(database_url, batches_per_round),
        },
    }
    if drain_jobs:
        groups["drain, 1 worker, no-op jobs"] = {
            "pgqueuer": lambda: _drain(
                "pgqueuer", pgqueuer_url, drain_per_round, pgqueuer_peer.fill
            ),
            "floor: the drain's writes": lambda: _drain_floor(database_url, drain_per_round),
            "ours (a worker)": lambda: _drain("ours", database_url, drain_per_round, ours.fill),
        }
    jobs_done = {
        "one job a call, 1 client": per_round * rounds,
        f"{BATCH:,} jobs a call, 1 client": batches_per_round * BATCH * rounds,
        "drain, 1 worker, no-op jobs": drain_per_round * rounds,
    }
    spent = {group: dict.fromkeys(timers, 0.0) for group, timers in groups.items()}
    for round_no in range(rounds):
        for group, timers in groups.items():
            for name, timer in timers.items():
                print(f"[floor] round {round_no + 1}/{rounds}: {group}: {name}", flush=True)
                spent[group][name] += timer()
            _reset(database_url)
            pgqueuer_peer.reset(pgqueuer_url)
    return {
        group: {name: jobs_done[group] / seconds for name, seconds in times.items()}
        for group, times in spent.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=3000, help="single submits, over all rounds")
    parser.add_argument("--batches", type=int, default=12, help="1,000-job calls, over all rounds")
    parser.add_argument("--drain-jobs", type=int, default=15000, help="drained, over all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="a server to run on (CREATEDB)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as CSV")
    args = parser.parse_args(argv)
    with databases(args.database_url, DEFAULT_DATA_DIR) as dbs:
        results = measure(
            dbs.ours, dbs.pgqueuer, args.jobs, args.batches, args.rounds, args.drain_jobs
        )
    lines = []
    for group, rates in results.items():
        peer_name, peer = next(iter(rates.items()))
        for name, rate in rates.items():
            lines.append((group, name, rate, rate / peer, peer_name))
            print(f"{group:28} {name:34} {rate:10,.0f} jobs/s  {rate / peer:5.2f}x {peer_name}")
    if args.out is not None:
        with args.out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["group", "way", "jobs_per_s", "ratio", "against"])
            for group, name, rate, ratio, peer_name in lines:
                writer.writerow([group, name, f"{rate:.1f}", f"{ratio:.3f}", peer_name])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 24's drain stall: while any transaction holds an old snapshot (a long query, a backup,
an ANALYZE), the messages a drain archives stay in the queue's index as dead entries. A claim
that reads the queue from its start walks every one of them, so each claim cost more than the
one before and a 10,000-job drain took several times as long (pgqueuer's, beside it, did not
slow down). The claim reads from its session's floor instead (private.claim_jobs), and the
outcome write looks its messages up by id (private.finish_attempts).

Measured in shared buffers per call (EXPLAIN ANALYZE counts what the function's own
statements touch), not in time: the machine's load changes the time, not the buffers."""

from __future__ import annotations

import json
import statistics
from typing import Any

import psycopg

JOBS = 1500
BATCH = 10


def _buffers(conn: psycopg.Connection, statement: str, params: tuple[Any, ...]) -> tuple[int, Any]:
    """Runs ``statement`` under EXPLAIN (ANALYZE, BUFFERS): (shared buffers, its rows' count)."""
    row = conn.execute(f"explain (analyze, buffers, format json) {statement}", params).fetchone()
    assert row is not None
    plan = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]["Plan"]
    return plan["Shared Hit Blocks"] + plan["Shared Read Blocks"], plan["Actual Rows"]


CLAIM = "select * from private.claim_jobs('drainer', %s, 30, p_scale => false)"
FINISH = (
    "select * from private.finish_attempts(%s::uuid[], %s::int[], %s::text[], %s::text[],"
    " %s::text[], %s::bigint[])"
)


def _drain(conn: psycopg.Connection) -> list[tuple[int, int]]:
    """Claims and finishes every job, BATCH at a time: each round's (claim, finish) buffers."""
    rounds: list[tuple[int, int]] = []
    while True:
        claim_buffers, _ = _buffers(conn, CLAIM, (BATCH,))
        # The claim's rows, read back from the jobs it started (EXPLAIN returns no rows).
        claimed = conn.execute(
            "select job_id, attempts, msg_id from public.job_results"
            " where status = 'running' and claimed_by = 'drainer'"
        ).fetchall()
        if not claimed:
            return rounds
        ids = [str(r[0]) for r in claimed]
        finish_buffers, _ = _buffers(
            conn,
            FINISH,
            (
                ids,
                [r[1] for r in claimed],
                ["completed"] * len(ids),
                [None] * len(ids),
                [None] * len(ids),
                [r[2] for r in claimed],
            ),
        )
        rounds.append((claim_buffers, finish_buffers))


def test_a_claim_costs_the_same_late_in_a_drain_while_an_old_snapshot_is_held(
    db_url: str,
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("select public.submit_job('job ' || n) from generate_series(1, %s) n", (JOBS,))
        conn.execute("vacuum analyze pgmq.q_work_queue")
        with psycopg.connect(db_url) as holder:
            # An old snapshot: nothing deleted after this can be pruned while it is held.
            holder.execute("begin isolation level repeatable read")
            holder.execute("select count(*) from public.job_results").fetchone()
            rounds = _drain(conn)
            holder.rollback()
        left = conn.execute("select count(*) from pgmq.q_work_queue").fetchone()
    assert left == (0,)
    assert len(rounds) == JOBS // BATCH
    early = rounds[2:12]
    late = rounds[-11:-1]
    # The median: the floor is renewed by a full read once a second, so on a slow machine one
    # claim in a window may walk from the start by design; before the fix every late one did.
    early_claim = statistics.median(c for c, _ in early)
    late_claim = statistics.median(c for c, _ in late)
    early_finish = max(f for _, f in early)
    late_finish = max(f for _, f in late)
    # Reading from the start, the late claims walked the ~1,400 archived messages: hundreds
    # of buffers against tens early on.
    assert late_claim <= 2 * early_claim + 20, (early_claim, late_claim)
    assert late_finish <= 2 * early_finish + 20, (early_finish, late_finish)

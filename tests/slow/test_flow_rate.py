"""A kind's rate limit over a minute of backlog: starts per second measured within 10 % of the
limit, with 4 claimers that would go far faster and no sweep (each start is scheduled by the
admission a finish or submit runs, as a message's visibility, not polled for in SQL)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg.types.json import Jsonb

from tests.sql.flow_helpers import Claimer, set_flow
from tests.waiting import wait_for

RATE = 10  # starts a second
WINDOW_S = 60


def test_starts_follow_the_rate_limit_over_a_minute(embedded_db_url: str) -> None:
    url = embedded_db_url
    with psycopg.connect(url, autocommit=True) as db:
        set_flow(db, "noop", {"rate_limit": RATE, "rate_period_s": 1, "rate_burst": RATE})
        db.execute(
            "select submit_jobs(%s)",
            (Jsonb([{"task_name": f"r{i}", "kind": "noop"} for i in range(1000)]),),
        )
        workers = [Claimer(url, (0.001, 0.003), batch=4) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            first = wait_for(
                lambda: db.execute("select min(started_at) from job_results").fetchone()[0],  # type: ignore[index]
                timeout=30,
                what="the first start",
            )
            end = first + timedelta(seconds=WINDOW_S + 1)
            wait_for(
                lambda: db.execute("select now() > %s", (end,)).fetchone() == (True,),
                timeout=WINDOW_S + 30,
                interval=0.5,
                what="a minute of backlog",
            )
        finally:
            for worker in workers:
                worker.stop.set()
            for worker in workers:
                worker.join(timeout=10)
        assert [w.error for w in workers if w.error] == []
        # Past the first burst, over a whole minute.
        start = first + timedelta(seconds=1)
        row = db.execute(
            "select count(*) from job_results where started_at >= %s and started_at < %s",
            (start, start + timedelta(seconds=WINDOW_S)),
        ).fetchone()
        waiting = db.execute("select count(*) from job_results where started_at is null").fetchone()
    assert row is not None and waiting is not None
    measured = row[0] / WINDOW_S
    print(f"rate limit {RATE}/s: measured {measured:.2f} starts/s over {WINDOW_S} s")
    assert waiting[0] > 0  # the backlog lasted the whole minute
    assert abs(measured - RATE) <= 0.1 * RATE

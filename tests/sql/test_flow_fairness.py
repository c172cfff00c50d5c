"""Fair shares between owners and priority with ageing, measured with real claimers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.sql.flow_helpers import Claimer, act_as, set_flow
from tests.waiting import wait_for

RUNNING = 8


def submit_as(db: psycopg.Connection, owner: str, count: int) -> None:
    for start in range(0, count, 1000):
        with db.transaction():
            act_as(db, owner)
            db.execute(
                "select submit_jobs(%s)",
                (
                    Jsonb(
                        [
                            {"task_name": f"a{i}", "kind": "noop"}
                            for i in range(start, min(count, start + 1000))
                        ]
                    ),
                ),
            )


def test_one_job_of_b_starts_within_two_rounds_of_as_ten_thousand(embedded_db_url: str) -> None:
    url = embedded_db_url
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(url, autocommit=True) as db:
        set_flow(db, "noop", {"max_running": RUNNING})
        submit_as(db, alice, 10_000)
        assert db.execute("select count(*) from pgmq.q_work_queue").fetchone() == (RUNNING,)
        workers = [Claimer(url, (0.005, 0.015), batch=2) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            done = "select count(*) from job_results where status = 'completed'"
            wait_for(
                lambda: (db.execute(done).fetchone() or (0,))[0] >= 100,
                timeout=60,
                what="alice's jobs under way",
            )
            with db.transaction():
                act_as(db, bob)
                row = db.execute("select submit_job('b', '{}', kind => 'noop')").fetchone()
            assert row is not None
            bob_job = row[0]
            started = wait_for(
                lambda: db.execute(
                    "select started_at, created_at from job_results"
                    " where job_id = %s and started_at is not null",
                    (bob_job,),
                ).fetchone(),
                timeout=60,
                what="bob's job started",
            )
        finally:
            for worker in workers:
                worker.stop.set()
            for worker in workers:
                worker.join(timeout=10)
        assert [w.error for w in workers if w.error] == []
        between = db.execute(
            "select count(*) from job_results where owner_id = %s and finished_at > %s"
            " and finished_at <= %s",
            (alice, started[1], started[0]),
        ).fetchone()
        waiting = db.execute(
            "select count(*) from job_results where owner_id = %s and status = 'pending'", (alice,)
        ).fetchone()
    assert between is not None and waiting is not None
    print(f"alice's completions between bob's submit and start: {between[0]}")
    assert between[0] <= 2 * RUNNING
    assert waiting[0] > 5_000  # bob did not wait for alice's backlog


def admitted(db: psycopg.Connection) -> list[Any]:
    return [
        row[0]
        for row in db.execute(
            "select task_name from job_results where msg_id is not null and status = 'pending'"
        )
    ]


def finish_admitted(db: psycopg.Connection) -> None:
    db.execute(
        "update job_results set status = 'completed'"
        " where msg_id is not null and status = 'pending'"
    )


def test_higher_priority_goes_first_and_age_outranks_priority_in_the_end(
    db: psycopg.Connection,
) -> None:
    set_flow(db, "noop", {"max_running": 1, "fair": False, "priority_step_s": 60})

    def submit(name: str, priority: int, age_s: float = 0) -> None:
        row = db.execute(
            "select job_id from submit_job_flow(%s, kind => 'noop', priority => %s)",
            (name, priority),
        ).fetchone()
        assert row is not None
        if age_s:  # as if it had been submitted age_s ago, in line by the same rule
            db.execute(
                "update private.flow_waiting set sort_at = sort_at - %s where job_id = %s",
                (timedelta(seconds=age_s), row[0]),
            )

    submit("first", 0)  # admitted at once: the slot was free
    submit("low", 0)
    submit("high", 5)
    submit("old-low", 1, age_s=600)  # waited 10 minutes: worth 10 levels
    submit("mid", 3)
    order = []
    for _ in range(5):
        order.extend(admitted(db))
        finish_admitted(db)
    assert order == ["first", "old-low", "high", "mid", "low"]

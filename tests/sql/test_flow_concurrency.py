"""Per-key concurrency limits hold under 8 concurrent claimers with the real locks: the most
jobs ever seen running under one key (job_results, every 10 ms) never exceeds the limit, and
claims pass blocked keys over instead of waiting on them."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.types.json import Jsonb

from tests.sql.flow_helpers import Claimer, Sampler, act_as, set_flow, status_counts
from tests.waiting import wait_for


def drain(url: str, total: int, run_s: tuple[float, float], claimers: int = 8) -> Sampler:
    sampler = Sampler(url)
    sampler.start()
    workers = [Claimer(url, run_s) for _ in range(claimers)]
    for worker in workers:
        worker.start()
    try:
        with psycopg.connect(url, autocommit=True) as db:
            wait_for(
                lambda: status_counts(db).get("completed") == total,
                timeout=120,
                what=f"{total} jobs completed",
            )
    finally:
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            worker.join(timeout=10)
        sampler.stop.set()
        sampler.join(timeout=10)
    assert [str(w.error) for w in workers if w.error] == []
    assert sampler.samples > 10
    return sampler


def test_a_payload_key_never_runs_more_than_its_limit(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as db:
        set_flow(db, "noop", {"concurrency_limit": 2, "concurrency_key": "payload.tenant"})
        db.execute(
            "select submit_jobs(%s)",
            (
                Jsonb(
                    [
                        {
                            "task_name": f"t{i}",
                            "kind": "noop",
                            "payload": {"tenant": f"tenant-{i % 3}"},
                        }
                        for i in range(90)
                    ]
                ),
            ),
        )
        # Admitted at once: two per tenant; the rest wait without a message.
        assert db.execute("select count(*) from pgmq.q_work_queue").fetchone() == (6,)
    sampler = drain(db_url, 90, (0.02, 0.05))
    keys = {f"payload.tenant=tenant-{i}" for i in range(3)}
    assert set(sampler.most) == keys
    assert max(sampler.most.values()) == 2  # the limit was reached, never passed


def test_a_blocked_owner_does_not_hold_up_another(db_url: str) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(db_url, autocommit=True) as db:
        set_flow(db, "noop", {"concurrency_limit": 1, "concurrency_key": "owner"})
        for owner, count in ((alice, 40), (bob, 10)):
            with db.transaction():
                act_as(db, owner)
                db.execute(
                    "select submit_jobs(%s)",
                    (Jsonb([{"task_name": "n", "kind": "noop"} for _ in range(count)]),),
                )
        waiting = db.execute(
            "select job_wait_reason(job_id) ->> 'message' from job_results"
            " where status = 'pending' and msg_id is null limit 1"
        ).fetchone()
        assert waiting == ("waiting: 1 of 1 running for this user",)
    sampler = drain(db_url, 50, (0.005, 0.02))
    assert sampler.most == {f"owner:{alice}": 1, f"owner:{bob}": 1}


def test_per_job_keys_and_limits(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as db:
        for i in range(30):
            db.execute(
                "select * from submit_job_flow('x', '{}', kind => 'echo',"
                " concurrency_key => %s, concurrency_limit => 3)",
                (f"api-{i % 2}",),
            )
        assert db.execute("select count(*) from pgmq.q_work_queue").fetchone() == (6,)
    sampler = drain(db_url, 30, (0.02, 0.04))
    assert sampler.most == {"api-0": 3, "api-1": 3}


def test_workers_finishing_two_limited_kinds_in_one_batch_never_deadlock(db_url: str) -> None:
    """A finish (or claim) batch ending jobs of two flow-controlled kinds takes both kinds'
    locks; every such writer takes them in one order, so none waits on another in a cycle
    (a deadlock would surface as a claimer's error)."""
    with psycopg.connect(db_url, autocommit=True) as db:
        set_flow(db, "noop", {"concurrency_limit": 3, "concurrency_key": "payload.tenant"})
        set_flow(db, "echo", {"max_running": 4})
        db.execute(
            "select submit_jobs(%s)",
            (
                Jsonb(
                    [
                        {
                            "task_name": f"m{i}",
                            "kind": "noop" if i % 2 else "echo",
                            "payload": {"tenant": f"t{i % 4}"},
                        }
                        for i in range(240)
                    ]
                ),
            ),
        )
    sampler = drain(db_url, 240, (0.0, 0.004))
    echo_running = sampler.most.pop("None")  # echo's jobs count against the kind only
    assert 1 <= echo_running <= 4
    assert sampler.most.keys() == {f"payload.tenant=t{i}" for i in (1, 3)}
    assert max(sampler.most.values()) <= 3

"""Workers follow the backlog, up to the ceiling, on a real Postgres with the real locks: a full
claim with more visible behind it wakes more workers; concurrent claimers never bring more than
``max_workers``; a wake-up is taken once; the sweep notices a dead worker by its lapsed lease,
makes its jobs visible at once and wakes another."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.types.json import Jsonb

from devstack.config import generate_webhook_secret
from devstack.postgres.migrate import configure_webhook
from functions.core.models import ClaimedBatch
from functions.db import queries
from functions.db.store import PgWorkQueue

VISIBILITY_S = 30
LEASE_S = 30.0


@pytest.fixture
def url(db_url: str) -> str:
    return db_url


def configure(url: str, max_workers: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        configure_webhook(conn, "http://127.0.0.1:9/hook", generate_webhook_secret(), max_workers)


def enqueue(url: str, count: int) -> None:
    items = [{"task_name": f"t{i}", "kind": "noop"} for i in range(count)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select submit_jobs(%s)", (Jsonb(items),))


def wake_ups_sent(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select headers ->> 'webhook-id' from net.http_request_queue order by id"
        ).fetchall()
    return [row[0] for row in rows]


def live_leases(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from private.queue_leases where expires_at > clock_timestamp()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_burst_wakes_one_worker_and_its_full_claim_brings_the_backlogs_workers(url: str) -> None:
    configure(url, max_workers=5)
    enqueue(url, 100)
    assert len(wake_ups_sent(url)) == 1  # one call for the burst
    queue = PgWorkQueue(url)
    first = wake_ups_sent(url)[0]
    assert queue.take_wake_up(first, LEASE_S)
    batch = queue.claim(first, 10, VISIBILITY_S)
    assert len(batch.started) == 10
    # 90 visible want 9 more workers; the ceiling allows 4 besides this one.
    assert len(wake_ups_sent(url)) == 5
    assert live_leases(url) == 5


def test_a_quiet_queue_asks_for_nobody_more(url: str) -> None:
    configure(url, max_workers=5)
    enqueue(url, 10)
    queue = PgWorkQueue(url)
    first = wake_ups_sent(url)[0]
    assert queue.take_wake_up(first, LEASE_S)
    assert len(queue.claim(first, 10, VISIBILITY_S).started) == 10  # full, but nothing behind
    assert len(wake_ups_sent(url)) == 1


def test_concurrent_claimers_never_bring_more_workers_than_the_ceiling(url: str) -> None:
    configure(url, max_workers=4)
    enqueue(url, 1000)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def claimer(n: int) -> None:
        queue = PgWorkQueue(url)
        try:
            queue.hold(f"claimer-{n}", LEASE_S)
            start.wait(timeout=30)
            for _ in range(5):
                queue.claim(f"claimer-{n}", 10, VISIBILITY_S)
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    # Eight claimers already exceed the ceiling: not one wake-up beyond the burst's first.
    assert len(wake_ups_sent(url)) == 1


def test_concurrent_full_claims_from_one_worker_stop_at_the_ceiling(url: str) -> None:
    configure(url, max_workers=6)
    enqueue(url, 1000)
    first = wake_ups_sent(url)[0]
    PgWorkQueue(url).take_wake_up(first, LEASE_S)
    start = threading.Barrier(8)

    def claim_once() -> None:
        start.wait(timeout=30)
        PgWorkQueue(url).claim(first, 10, VISIBILITY_S)

    threads = [threading.Thread(target=claim_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(wake_ups_sent(url)) == 6  # the first, then five more under SEND_LOCK: never 7+
    assert live_leases(url) == 6


def test_a_wake_up_is_taken_once(url: str) -> None:
    configure(url, max_workers=5)
    enqueue(url, 1)
    wake_id = wake_ups_sent(url)[0]
    queue = PgWorkQueue(url)
    assert queue.take_wake_up(wake_id, LEASE_S) is True
    assert queue.take_wake_up(wake_id, LEASE_S) is False  # a replay
    assert queue.take_wake_up("wake_" + "0" * 32, LEASE_S) is False  # never sent


def test_the_sweep_releases_a_dead_workers_jobs_at_once_and_wakes_another(url: str) -> None:
    configure(url, max_workers=5)
    enqueue(url, 3)
    queue = PgWorkQueue(url)
    first = wake_ups_sent(url)[0]
    assert queue.take_wake_up(first, LEASE_S)
    assert len(queue.claim(first, 10, VISIBILITY_S).started) == 3
    with psycopg.connect(url, autocommit=True) as conn:
        # The worker dies: nothing renews its lease, which lapses.
        conn.execute("update private.queue_leases set expires_at = clock_timestamp()")
        row = conn.execute(queries.SWEEP).fetchone()
        assert row is not None
        # Each of the three may be what killed the worker: a worker each, so they restart side
        # by side rather than one after another.
        assert row[0] == {"dead_leases": 1, "released": 3, "woken": 3}
        visible = conn.execute(
            "select count(*) from pgmq.q_work_queue where vt <= clock_timestamp()"
        ).fetchone()
    assert visible == (3,)  # long before the 30 s visibility
    assert len(wake_ups_sent(url)) == 4
    for n in range(3):
        redelivered = queue.claim(f"worker-{n}", 10, VISIBILITY_S)
        assert len(redelivered.suspects) == 1  # one a claim: it runs alone
        assert redelivered.started == []
    assert queue.claim("worker-3", 10, VISIBILITY_S) == ClaimedBatch([], [], 0)


def test_the_sweep_with_a_live_worker_sends_nothing(url: str) -> None:
    configure(url, max_workers=5)
    queue = PgWorkQueue(url)
    queue.hold("alive", LEASE_S)
    enqueue(url, 3)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(queries.SWEEP).fetchone()
    assert row == ({"dead_leases": 0, "released": 0, "woken": 0},)
    assert wake_ups_sent(url) == []


def test_the_sweep_wakes_a_worker_for_a_job_that_came_due(url: str) -> None:
    configure(url, max_workers=5)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select submit_job('later', '{}', null, null, 3600)")
        assert wake_ups_sent(url) == []  # not due: no call at submit
        conn.execute("update pgmq.q_work_queue set vt = clock_timestamp()")
        row = conn.execute(queries.SWEEP).fetchone()
    assert row is not None and row[0]["woken"] == 1


@pytest.fixture
def forgotten(url: str) -> Iterator[str]:
    configure(url, max_workers=5)
    enqueue(url, 1)
    wake_id = wake_ups_sent(url)[0]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update private.wake_ups set sent_at = sent_at - interval '11 minutes'")
        conn.execute(queries.SWEEP)
    yield wake_id


def test_the_sweep_forgets_wake_ups_past_any_signature_window(forgotten: str, url: str) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from private.wake_ups where wake_id = %s", (forgotten,)
        ).fetchone()
    assert row == (0,)

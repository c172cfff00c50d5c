"""Coalesced wake-ups on a real Postgres: while a worker holds the queue's lease, enqueuing
queues no webhook call, and each interleaving of an enqueuer with a leaving worker at the race
points (forced with the real locks, never with sleeps) leaves no message without a worker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from devstack.config import generate_webhook_secret
from devstack.postgres.migrate import configure_webhook
from functions.db import queries
from functions.db.store import PgWorkQueue
from tests.waiting import wait_for

HOLDER = "test-worker"  # the lease holder these claims are made for

LEASE_S = 30.0


@pytest.fixture
def url(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        configure_webhook(conn, "http://127.0.0.1:9/hook", generate_webhook_secret())
    return db_url


def calls(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from net.http_request_queue").fetchone()
    assert row is not None
    return int(row[0])


def submit(conn: psycopg.Connection, task: str = "t") -> None:
    conn.execute("select submit_job(%s)", (task,))


def submit_alone(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        submit(conn)


def waiting_for_the_wake_lock(url: str) -> int:
    """Backends waiting for the wake-up advisory lock."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted"
            " and database = (select oid from pg_database where datname = current_database())"
        ).fetchone()
    assert row is not None
    return int(row[0])


class InThread:
    """Runs ``fn`` in a thread and keeps its result or error."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:  # handed to the test
            self.error = exc

    def join(self) -> Any:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "still blocked"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def queue(url: str) -> Iterator[PgWorkQueue]:
    yield PgWorkQueue(url)


def test_no_lease_a_burst_queues_one_call_and_a_held_lease_queues_none(
    url: str, queue: PgWorkQueue
) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(20):
            submit(conn)
        assert calls(url) == 1  # the first took the wake-up window; the rest rode on it
        queue.hold("w", LEASE_S)
        conn.execute("truncate net.http_request_queue")
        conn.execute("delete from private.queue_leases where holder like 'wake%'")  # it arrived
        for _ in range(50):
            submit(conn)
        assert calls(url) == 0
        # Leaving with work visible and no time to stay: the database wakes a worker itself.
        assert queue.leave("w", LEASE_S, stay=False) is False
        assert calls(url) == 1


def test_an_expired_lease_holds_nothing(url: str, queue: PgWorkQueue) -> None:
    queue.hold("crashed", 0.0)  # a worker that died without leaving, its lease run out
    with psycopg.connect(url, autocommit=True) as conn:
        submit(conn)
    assert calls(url) == 1


def test_leaving_with_an_empty_queue_releases_the_lease(url: str, queue: PgWorkQueue) -> None:
    queue.hold("w", LEASE_S)
    assert queue.leave("w", LEASE_S, stay=True) is False
    with psycopg.connect(url, autocommit=True) as conn:
        submit(conn)
    assert calls(url) == 1


def test_work_found_on_leaving_keeps_the_lease_when_the_worker_stays(
    url: str, queue: PgWorkQueue
) -> None:
    queue.hold("w", LEASE_S)
    with psycopg.connect(url, autocommit=True) as conn:
        submit(conn)
        assert queue.leave("w", LEASE_S, stay=True) is True
        submit(conn)
    assert calls(url) == 0


def test_an_enqueuer_that_saw_the_lease_commits_before_the_final_look(
    url: str, queue: PgWorkQueue
) -> None:
    """Race point 1: the enqueuer read the lease (and sent nothing) but has not committed when
    the worker leaves. The worker's look must wait for the commit and then see the message."""
    queue.hold("w", LEASE_S)
    with psycopg.connect(url) as enqueuer:  # an open transaction
        submit(enqueuer)
        leaving = InThread(lambda: PgWorkQueue(url).leave("w", LEASE_S, stay=True))
        wait_for(lambda: waiting_for_the_wake_lock(url) == 1, what="the leaver to wait")
        assert leaving.thread.is_alive()
        enqueuer.commit()
    assert leaving.join() is True  # it saw the message and drains on
    assert calls(url) == 0


def test_an_enqueuer_that_saw_the_lease_and_rolled_back_leaves_nothing_behind(
    url: str, queue: PgWorkQueue
) -> None:
    queue.hold("w", LEASE_S)
    with psycopg.connect(url) as enqueuer:
        submit(enqueuer)
        leaving = InThread(lambda: PgWorkQueue(url).leave("w", LEASE_S, stay=False))
        wait_for(lambda: waiting_for_the_wake_lock(url) == 1, what="the leaver to wait")
        enqueuer.rollback()
    assert leaving.join() is False
    assert calls(url) == 0


def test_an_enqueuer_arriving_during_the_final_look_calls_the_webhook(
    url: str, queue: PgWorkQueue
) -> None:
    """Race point 2: the worker holds the lock for its final look (found nothing) and has not
    committed; an enqueuer arriving then must wait, and read the leases without the worker's."""
    queue.hold("w", LEASE_S)
    with psycopg.connect(url) as leaver:  # leave_work_queue inside a still-open transaction
        row = leaver.execute(
            queries.LEAVE_WORK_QUEUE, {"holder": "w", "lease_s": LEASE_S, "stay": True}
        ).fetchone()
        assert row == (False,)
        enqueuing = InThread(lambda: submit_alone(url))
        wait_for(lambda: waiting_for_the_wake_lock(url) == 1, what="the enqueuer to wait")
        assert calls(url) == 0
        leaver.commit()
    enqueuing.join()
    assert calls(url) == 1


def test_an_enqueuer_during_a_final_look_that_stays_sends_nothing(
    url: str, queue: PgWorkQueue
) -> None:
    """The worker found work and keeps its lease: the waiting enqueuer sees it and sends
    nothing, and its message is the staying worker's to claim."""
    queue.hold("w", LEASE_S)
    with psycopg.connect(url, autocommit=True) as conn:
        submit(conn)
    with psycopg.connect(url) as leaver:
        row = leaver.execute(
            queries.LEAVE_WORK_QUEUE, {"holder": "w", "lease_s": LEASE_S, "stay": True}
        ).fetchone()
        assert row == (True,)
        enqueuing = InThread(lambda: submit_alone(url))
        wait_for(lambda: waiting_for_the_wake_lock(url) == 1, what="the enqueuer to wait")
        leaver.commit()
    enqueuing.join()
    assert calls(url) == 0
    assert len(queue.claim(HOLDER, 10, 30).started) == 2


def test_a_second_worker_keeps_the_queue_held_when_the_first_leaves(
    url: str, queue: PgWorkQueue
) -> None:
    queue.hold("a", LEASE_S)
    queue.hold("b", LEASE_S)
    assert queue.leave("a", LEASE_S, stay=False) is False
    with psycopg.connect(url, autocommit=True) as conn:
        submit(conn)
    assert calls(url) == 0
    # b's final look sees it: with no time to stay, b has the database wake a worker.
    assert queue.leave("b", LEASE_S, stay=False) is False
    assert calls(url) == 1


def test_a_waiting_claim_returns_as_soon_as_work_arrives(url: str, queue: PgWorkQueue) -> None:
    claiming = InThread(lambda: PgWorkQueue(url).claim(HOLDER, 10, 30, wait_s=20.0))

    def polling() -> bool:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity where query like '%claim_jobs%'"
                " and state = 'active' and pid <> pg_backend_pid()"
                " and datname = current_database()"
            ).fetchone()
        return bool(row and row[0])

    wait_for(polling, what="the claim to be waiting")
    with psycopg.connect(url, autocommit=True) as conn:
        submit(conn, "late")
    batch = claiming.join()
    assert [c.task_name for c in batch.started] == ["late"]
    # The claim's statement began before the job existed: its start is when the job was taken.
    with psycopg.connect(url) as conn:
        row = conn.execute("select started_at >= created_at from job_results").fetchone()
    assert row == (True,)


def test_a_repeatable_read_enqueuer_asks_for_a_wake_up_even_under_a_lease(
    url: str, queue: PgWorkQueue
) -> None:
    """Its snapshot may predate a worker's leaving, so it cannot trust a lease it sees."""
    queue.hold("w", LEASE_S)
    with psycopg.connect(url) as conn:
        conn.execute("set transaction isolation level repeatable read")
        submit(conn)
        conn.commit()
    assert calls(url) == 1

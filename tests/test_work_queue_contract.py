"""One contract, two WorkQueue adapters: the in-memory one used by fast tests must behave like
the Postgres one the functions use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import psycopg
import pytest
from psycopg.types.json import Jsonb

from functions.core.ports import WorkQueue
from functions.db.store import PgWorkQueue
from functions.memory import InMemoryWorkQueue


class Harness(Protocol):
    queue: WorkQueue

    def submit(self, task_name: str, payload: dict[str, Any]) -> UUID: ...

    def state(self, job_id: UUID) -> tuple[str, int, str | None, str | None]: ...

    def queued(self) -> int: ...


@dataclass
class MemoryHarness:
    queue: InMemoryWorkQueue

    def submit(self, task_name: str, payload: dict[str, Any]) -> UUID:
        return self.queue.submit(task_name, payload)

    def state(self, job_id: UUID) -> tuple[str, int, str | None, str | None]:
        job = self.queue.jobs[job_id]
        return job.status.value, job.attempts, job.result, job.error

    def queued(self) -> int:
        return len(self.queue.queue)


@dataclass
class PostgresHarness:
    queue: PgWorkQueue
    url: str

    def submit(self, task_name: str, payload: dict[str, Any]) -> UUID:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("select submit_job(%s, %s)", (task_name, Jsonb(payload))).fetchone()
        assert row is not None
        return UUID(str(row[0]))

    def state(self, job_id: UUID) -> tuple[str, int, str | None, str | None]:
        with psycopg.connect(self.url) as conn:
            row = conn.execute(
                "select status, attempts, result, error from job_results where job_id = %s",
                (job_id,),
            ).fetchone()
        assert row is not None
        return row[0], row[1], row[2], row[3]

    def queued(self) -> int:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("select count(*) from pgmq.q_work_queue").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(params=["memory", "postgres"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness(InMemoryWorkQueue())
    else:
        url = request.getfixturevalue("embedded_db_url")
        yield PostgresHarness(PgWorkQueue(url), url)


def test_a_claimed_message_is_invisible_until_its_timeout(harness: Harness) -> None:
    harness.submit("a", {})
    first = harness.queue.claim(10, 30)
    assert len(first) == 1 and first[0].read_count == 1
    assert harness.queue.claim(10, 30) == []


def test_start_then_complete_archives_and_records_once(harness: Harness) -> None:
    job_id = harness.submit("a", {"k": 1})
    (message,) = harness.queue.claim(10, 30)
    claim = harness.queue.start(message)
    assert claim is not None
    assert (claim.attempt, claim.task_name, claim.payload) == (1, "a", {"k": 1})
    assert harness.state(job_id) == ("running", 1, None, None)
    assert harness.queue.complete(claim, "fine") is True
    assert harness.queue.complete(claim, "again") is False
    assert harness.state(job_id) == ("completed", 1, "fine", None)
    assert harness.queued() == 0


def test_a_stale_attempt_cannot_write(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    (message,) = harness.queue.claim(10, 0)
    stale = harness.queue.start(message)
    (again,) = harness.queue.claim(10, 30)  # visible at once: timeout 0
    current = harness.queue.start(again)
    assert stale is not None and current is not None and current.attempt == 2
    assert harness.queue.fail(stale, "late") is False
    assert harness.queue.complete(current, "won") is True
    assert harness.state(job_id) == ("completed", 2, "won", None)


def test_retry_later_puts_the_job_back_to_pending(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    (message,) = harness.queue.claim(10, 30)
    claim = harness.queue.start(message)
    assert claim is not None
    assert harness.queue.retry_later(claim, "oops", 0) is True
    assert harness.state(job_id) == ("pending", 1, None, "oops")
    (again,) = harness.queue.claim(10, 30)
    assert again.msg_id == message.msg_id and again.read_count == 2


def test_a_finished_job_is_not_started_again(harness: Harness) -> None:
    harness.submit("a", {})
    (message,) = harness.queue.claim(10, 0)
    claim = harness.queue.start(message)
    assert claim is not None and harness.queue.fail(claim, "bad")
    assert harness.queue.start(message) is None
    assert harness.queued() == 0

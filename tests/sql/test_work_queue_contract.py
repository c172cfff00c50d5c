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

from functions.core.models import Claim, ClaimedBatch, JobStatus, Outcome
from functions.core.ports import WorkQueue
from functions.db.store import PgWorkQueue
from tests.inmemory import MemoryWorkQueue

HOLDER = "test-worker"  # the lease holder these claims are made for


class Harness(Protocol):
    @property
    def queue(self) -> WorkQueue: ...

    def submit(self, task_name: str, payload: dict[str, Any]) -> UUID: ...

    def state(self, job_id: UUID) -> tuple[str, int, str | None, str | None]: ...

    def queued(self) -> int: ...

    def submit_delayed(self, task_name: str, delay_s: float) -> UUID: ...

    def make_due(self) -> None:
        """Every queued message becomes visible now (time passing, without the wait)."""

    def move_on(self, job_id: UUID) -> None:
        """The job's current message becomes another one (as a retry racing a claim leaves
        it): the message still queued for it is an old one."""


@dataclass
class MemoryHarness:
    queue: MemoryWorkQueue

    def submit(self, task_name: str, payload: dict[str, Any]) -> UUID:
        return self.queue.submit(task_name, payload)

    def state(self, job_id: UUID) -> tuple[str, int, str | None, str | None]:
        job = self.queue.jobs[job_id]
        return job.status.value, job.attempts, job.result, job.error

    def queued(self) -> int:
        return len(self.queue.queue)

    def submit_delayed(self, task_name: str, delay_s: float) -> UUID:
        return self.queue.submit(task_name, {}, delay_s=delay_s)

    def make_due(self) -> None:
        for message in self.queue.queue.values():
            message.visible_at = self.queue.clock.monotonic()

    def move_on(self, job_id: UUID) -> None:
        self.queue.jobs[job_id].msg_id += 1000


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

    def submit_delayed(self, task_name: str, delay_s: float) -> UUID:
        with psycopg.connect(self.url) as conn:
            row = conn.execute(
                "select submit_job(%s, '{}'::jsonb, delay_seconds => %s)", (task_name, delay_s)
            ).fetchone()
        assert row is not None
        return UUID(str(row[0]))

    def make_due(self) -> None:
        with psycopg.connect(self.url) as conn:
            conn.execute("update pgmq.q_work_queue set vt = clock_timestamp()")

    def move_on(self, job_id: UUID) -> None:
        with psycopg.connect(self.url) as conn:
            conn.execute(
                "update job_results set msg_id = msg_id + 1000 where job_id = %s", (job_id,)
            )


@pytest.fixture(params=["memory", "postgres"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness(MemoryWorkQueue())
    else:
        url = request.getfixturevalue("embedded_db_url")
        yield PostgresHarness(PgWorkQueue(url), url)


def finish(harness: Harness, claim: Claim, status: JobStatus, text: str) -> bool:
    result, error = (text, None) if status == JobStatus.COMPLETED else (None, text)
    recorded = harness.queue.finish([Outcome(claim, status, result, error)])
    return claim.message.msg_id in recorded


def test_a_claim_starts_first_deliveries_and_hides_them(harness: Harness) -> None:
    job_id = harness.submit("a", {"k": 1})
    batch = harness.queue.claim(HOLDER, 10, 30)
    (claim,) = batch.started
    assert (batch.suspects, batch.skipped) == ([], 0)
    assert (claim.attempt, claim.task_name, claim.payload) == (1, "a", {"k": 1})
    assert claim.message.read_count == 1
    assert harness.state(job_id) == ("running", 1, None, None)
    assert harness.queue.claim(HOLDER, 10, 30) == ClaimedBatch([], [], 0)


def test_finish_archives_and_records_once(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    (claim,) = harness.queue.claim(HOLDER, 10, 30).started
    assert finish(harness, claim, JobStatus.COMPLETED, "fine") is True
    assert finish(harness, claim, JobStatus.COMPLETED, "again") is False
    assert harness.state(job_id) == ("completed", 1, "fine", None)
    assert harness.queued() == 0


def test_finish_records_a_group_at_once(harness: Harness) -> None:
    ids = [harness.submit(f"j{i}", {}) for i in range(3)]
    claims = harness.queue.claim(HOLDER, 10, 30).started
    outcomes = [
        Outcome(claims[0], JobStatus.COMPLETED, "r0", None),
        Outcome(claims[1], JobStatus.FAILED, None, "e1"),
        Outcome(claims[2], JobStatus.COMPLETED, "r2", None),
    ]
    assert harness.queue.finish(outcomes) == {c.message.msg_id for c in claims}
    assert [harness.state(i) for i in ids] == [
        ("completed", 1, "r0", None),
        ("failed", 1, None, "e1"),
        ("completed", 1, "r2", None),
    ]
    assert harness.queued() == 0


def test_a_redelivery_is_a_suspect_and_a_stale_attempt_cannot_write(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    (stale,) = harness.queue.claim(HOLDER, 10, 0).started
    again = harness.queue.claim(HOLDER, 10, 30)  # visible at once: the timeout was 0
    assert again.started == [] and len(again.suspects) == 1
    assert again.suspects[0].read_count == 2
    current = harness.queue.start(HOLDER, again.suspects[0])
    assert current is not None and current.attempt == 2
    assert finish(harness, stale, JobStatus.FAILED, "late") is False
    assert finish(harness, current, JobStatus.COMPLETED, "won") is True
    assert harness.state(job_id) == ("completed", 2, "won", None)


def test_retry_later_puts_the_job_back_to_pending(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    (claim,) = harness.queue.claim(HOLDER, 10, 30).started
    assert harness.queue.retry_later(claim, "oops", 0) is True
    assert harness.state(job_id) == ("pending", 1, None, "oops")
    (again,) = harness.queue.claim(HOLDER, 10, 30).suspects
    assert again.msg_id == claim.message.msg_id and again.read_count == 2


def test_a_finished_job_is_not_started_again(harness: Harness) -> None:
    harness.submit("a", {})
    (claim,) = harness.queue.claim(HOLDER, 10, 0).started
    assert finish(harness, claim, JobStatus.FAILED, "bad")
    assert harness.queue.start(HOLDER, claim.message) is None
    assert harness.queued() == 0


def test_hand_back_returns_a_started_claim_uncounted(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    (claim,) = harness.queue.claim(HOLDER, 10, 30).started
    assert harness.queue.hand_back([claim], []) == {claim.message.msg_id}
    assert harness.state(job_id) == ("pending", 0, None, None)
    # Visible at once, and a first delivery again (not a suspect to be run alone).
    again = harness.queue.claim(HOLDER, 10, 30)
    (restarted,) = again.started
    assert again.suspects == []
    assert (restarted.attempt, restarted.message.read_count) == (1, 1)


def test_hand_back_returns_an_unstarted_redelivery(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    harness.queue.claim(HOLDER, 10, 0)  # a worker that died after starting it
    (suspect,) = harness.queue.claim(HOLDER, 10, 30).suspects
    assert harness.queue.hand_back([], [suspect]) == {suspect.msg_id}
    assert harness.state(job_id) == ("running", 1, None, None)  # the dead worker's attempt
    (again,) = harness.queue.claim(HOLDER, 10, 30).suspects
    assert again.read_count == 2  # this delivery's read was not counted


def test_hand_back_leaves_what_it_no_longer_owns(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    (stale,) = harness.queue.claim(HOLDER, 10, 0).started
    (suspect,) = harness.queue.claim(HOLDER, 10, 30).suspects  # another worker has it now
    current = harness.queue.start(HOLDER, suspect)
    assert current is not None
    assert harness.queue.hand_back([stale], []) == set()
    assert harness.queue.hand_back([], [stale.message]) == set()
    assert harness.state(job_id) == ("running", 2, None, None)
    assert harness.queue.claim(HOLDER, 10, 30) == ClaimedBatch([], [], 0)  # still invisible


def test_retry_later_keeps_a_fraction_of_a_second(harness: Harness) -> None:
    harness.submit("a", {})
    (claim,) = harness.queue.claim(HOLDER, 10, 30).started
    # Jitter lives in the fraction: 0.4 s must not be rounded down to "visible now".
    assert harness.queue.retry_later(claim, "blip", 0.4)
    assert harness.queue.claim(HOLDER, 10, 30) == ClaimedBatch([], [], 0)


def test_leaving_an_empty_queue_returns_false(harness: Harness) -> None:
    harness.queue.hold("w", 30)
    assert harness.queue.leave("w", 30, stay=True) is False


def test_leaving_with_visible_work_stays_when_asked(harness: Harness) -> None:
    harness.queue.hold("w", 30)
    harness.submit("late", {})
    assert harness.queue.leave("w", 30, stay=True) is True
    assert len(harness.queue.claim(HOLDER, 10, 30).started) == 1


def test_work_still_in_flight_is_not_visible_on_leaving(harness: Harness) -> None:
    harness.submit("busy", {})
    harness.queue.hold("w", 30)
    harness.queue.claim(HOLDER, 10, 30)
    assert harness.queue.leave("w", 30, stay=True) is False


def test_a_waiting_claim_with_nothing_to_claim_returns_empty(harness: Harness) -> None:
    assert harness.queue.claim(HOLDER, 10, 30, wait_s=0.05) == ClaimedBatch([], [], 0)


def test_a_delayed_job_is_started_only_once_due(harness: Harness) -> None:
    job_id = harness.submit_delayed("a", 3600)
    assert harness.state(job_id) == ("scheduled", 0, None, None)
    assert harness.queue.claim(HOLDER, 10, 30) == ClaimedBatch([], [], 0)
    harness.make_due()
    (claim,) = harness.queue.claim(HOLDER, 10, 30).started
    assert claim.attempt == 1
    assert harness.state(job_id) == ("running", 1, None, None)


def test_a_message_that_is_no_longer_the_jobs_does_not_start_it(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    harness.move_on(job_id)
    assert harness.queue.claim(HOLDER, 10, 30) == ClaimedBatch([], [], 1)
    assert harness.state(job_id) == ("pending", 0, None, None)
    assert harness.queued() == 0


def test_a_redelivered_old_message_does_not_start_the_job(harness: Harness) -> None:
    job_id = harness.submit("a", {})
    harness.queue.claim(HOLDER, 10, 0)  # started, then its worker crashed: visible again at once
    harness.move_on(job_id)
    (suspect,) = harness.queue.claim(HOLDER, 10, 30).suspects
    assert harness.queue.start(HOLDER, suspect) is None
    assert harness.state(job_id) == ("running", 1, None, None)
    assert harness.queued() == 0

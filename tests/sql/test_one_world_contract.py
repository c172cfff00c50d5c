"""One contract across ports: what the submit function stores is what the worker claims, and
what the worker records is what the API reads back, with the events between. The in-memory
twin and Postgres must agree, since both hold jobs, messages and events in one database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest

from functions import once
from functions.core.models import Claim, JobStatus, NewJob, Outcome
from functions.core.ports import JobStore, WorkQueue
from functions.db.store import PgJobStore, PgWorkQueue
from tests.inmemory import InMemoryDatabase, MemoryJobStore, MemoryWorkQueue

HOLDER = "test-worker"  # the lease holder these claims are made for


@dataclass
class World:
    store: JobStore
    queue: WorkQueue

    def claim_one(self) -> Claim:
        batch = self.queue.claim(HOLDER, 10, 30)
        (claim,) = batch.started
        return claim

    def events(self, job_id: UUID) -> list[tuple[int, str, str]]:
        return [(e.attempt, e.event, e.status) for e in self.store.events(job_id)]


@pytest.fixture(params=["memory", "postgres"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "memory":
        db = InMemoryDatabase()
        yield World(MemoryJobStore(db), MemoryWorkQueue(db))
        return
    url = request.getfixturevalue("embedded_db_url")
    yield World(PgJobStore(url), PgWorkQueue(url))
    once.reset_all()  # closes the store's pool before its database is dropped


def test_the_kind_submitted_is_the_kind_claimed_and_the_outcome_is_read_back(
    world: World,
) -> None:
    job_id = world.store.submit(NewJob("Greeting", {"to": "you"}, kind="echo"))
    claim = world.claim_one()
    assert (claim.message.job_id, claim.task_name, claim.kind, claim.payload) == (
        job_id,
        "Greeting",
        "echo",
        {"to": "you"},
    )
    recorded = world.queue.finish([Outcome(claim, JobStatus.COMPLETED, '{"to": "you"}', None)])
    assert recorded == {claim.message.msg_id}
    job = world.store.get(job_id)
    assert job is not None
    assert (job.status, job.kind, job.result, job.attempts) == (
        JobStatus.COMPLETED,
        "echo",
        '{"to": "you"}',
        1,
    )
    assert world.events(job_id) == [
        (0, "submitted", "pending"),
        (1, "started", "running"),
        (1, "completed", "completed"),
    ]


def test_a_retry_and_a_cancel_request_meet_in_one_history(world: World) -> None:
    job_id = world.store.submit(NewJob("Flaky", {}, kind="noop"))
    first = world.claim_one()
    assert world.queue.retry_later(first, "boom", 0.0)
    (redelivered,) = world.queue.claim(
        HOLDER, 10, 30
    ).suspects  # read before: run alone, started apart
    second = world.queue.start(HOLDER, redelivered)
    assert second is not None and second.attempt == 2
    assert world.store.cancel(job_id) == JobStatus.RUNNING  # asks the worker
    assert world.queue.cancel_requested([job_id]) == {job_id}
    # The attempt fails on its way out: a job asked to stop ends cancelled, never failed.
    world.queue.finish([Outcome(second, JobStatus.FAILED, None, "stopped")])
    job = world.store.get(job_id)
    assert job is not None and job.status == JobStatus.CANCELLED
    assert world.events(job_id) == [
        (0, "submitted", "pending"),
        (1, "started", "running"),
        (1, "retrying", "pending"),
        (2, "started", "running"),
        (2, "cancel_requested", "running"),
        (2, "cancelled", "cancelled"),
    ]

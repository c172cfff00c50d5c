"""One contract, two JobStores: the in-memory fake the unit tests use must decide submissions
and idempotency keys as the Postgres store (submit_job) does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

import psycopg
import pytest

from functions import once
from functions.core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidInput
from functions.core.models import Caller, JobStatus, NewJob
from functions.core.ports import JobStore
from functions.db.store import PgJobStore
from functions.fakes import IDEMPOTENCY_TTL_S, InMemoryJobStore
from tests.db_state import jobs_and_messages


class Harness(Protocol):
    @property
    def store(self) -> JobStore: ...

    def stored(self) -> tuple[int, int]: ...

    def expire_keys(self) -> None: ...

    def in_flight(self, key: str) -> AbstractContextManager[None]: ...


@dataclass
class MemoryHarness:
    store: InMemoryJobStore
    now: list[float]

    def stored(self) -> tuple[int, int]:
        return len(self.store.jobs), len(self.store.messages)

    def expire_keys(self) -> None:
        self.now[0] += IDEMPOTENCY_TTL_S

    @contextmanager
    def in_flight(self, key: str) -> Iterator[None]:
        self.store.in_flight.add(key)
        yield
        self.store.in_flight.discard(key)


@dataclass
class PostgresHarness:
    store: PgJobStore
    url: str

    def stored(self) -> tuple[int, int]:
        return jobs_and_messages(self.url)

    def expire_keys(self) -> None:
        with psycopg.connect(self.url) as conn:
            conn.execute("update private.idempotency_keys set expires_at = now()")

    @contextmanager
    def in_flight(self, key: str) -> Iterator[None]:
        with psycopg.connect(self.url) as conn:
            conn.execute("select submit_job('other', '{}', %s)", (key,))
            yield
            conn.rollback()


@pytest.fixture(params=["memory", "postgres"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        now = [1_800_000_000.0]
        yield MemoryHarness(InMemoryJobStore(clock=lambda: now[0]), now)
        return
    url = request.getfixturevalue("embedded_db_url")
    yield PostgresHarness(PgJobStore(url), url)
    once.reset_all()  # closes the store's pool before its database is dropped


def test_a_job_is_stored_trimmed_and_listed_newest_first(harness: Harness) -> None:
    first = harness.store.submit(NewJob(" a ", {"n": 1}))
    second = harness.store.submit(NewJob("b", {}))
    job = harness.store.get(first)
    assert job is not None
    assert (job.task_name, job.payload, job.status.value, job.attempts) == (
        "a",
        {"n": 1},
        "pending",
        0,
    )
    assert {j.job_id for j in harness.store.newest(2)} == {first, second}
    assert len(harness.store.newest(1)) == 1
    assert harness.stored() == (2, 2)


def test_an_owned_job_is_its_owners_alone(harness: Harness) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    claims = json.dumps({"sub": str(alice), "role": "authenticated"})
    owned = harness.store.submit(NewJob("mine", {}, owner=Caller(alice, claims)))
    public = harness.store.submit(NewJob("demo", {}))
    job = harness.store.get(owned, alice)
    assert job is not None and job.owner_id == alice
    assert harness.store.get(owned, bob) is None and harness.store.get(owned) is None
    assert [j.job_id for j in harness.store.newest(10, owner=alice)] == [owned]
    assert [j.job_id for j in harness.store.newest(10)] == [public]
    assert harness.store.newest(10, owner=bob) == []


@pytest.mark.parametrize(
    "job",
    [
        NewJob("", {}),
        NewJob("x" * 201, {}),
        NewJob("a\tb", {}),
        NewJob("ok", {"s": "y" * 70_000}),
        NewJob("ok", {"deep": json.loads("[" * 65 + "]" * 65)}),
    ],
)
def test_the_store_refuses_what_submit_job_refuses(harness: Harness, job: NewJob) -> None:
    with pytest.raises(InvalidInput):
        harness.store.submit(job)
    assert harness.stored() == (0, 0)


def test_same_key_same_request_replays_and_a_different_one_is_refused(harness: Harness) -> None:
    first = harness.store.submit(NewJob("a", {"x": 1, "y": [1, 2]}, "k"))
    assert harness.store.submit(NewJob("a", {"y": [1, 2], "x": 1}, "k")) == first
    with pytest.raises(IdempotencyKeyReused):
        harness.store.submit(NewJob("a", {"x": 2}, "k"))
    assert harness.stored() == (1, 1)


def test_a_key_in_flight_is_refused_at_once(harness: Harness) -> None:
    with harness.in_flight("busy"), pytest.raises(IdempotencyKeyInFlight):
        harness.store.submit(NewJob("a", {}, "busy"))
    assert harness.stored() == (0, 0)


def test_an_expired_key_is_free_again(harness: Harness) -> None:
    first = harness.store.submit(NewJob("a", {}, "k"))
    harness.expire_keys()
    second = harness.store.submit(NewJob("b", {}, "k"))
    assert second != first
    assert harness.stored() == (2, 2)


# --- the lifecycle (supabase/migrations/*_job_lifecycle.sql) --------------------------------


def test_a_delayed_job_is_scheduled_and_a_bad_delay_refused(harness: Harness) -> None:
    later = harness.store.submit(NewJob("a", {}, delay_s=60))
    now = harness.store.submit(NewJob("b", {}, delay_s=0))
    got_later, got_now = harness.store.get(later), harness.store.get(now)
    assert got_later is not None and got_now is not None
    assert (got_later.status, got_now.status) == (JobStatus.SCHEDULED, JobStatus.PENDING)
    assert got_later.run_at is not None
    for bad in (NewJob("c", {}, delay_s=-1), NewJob("c", {}, delay_s=31 * 86400)):
        with pytest.raises(InvalidInput):
            harness.store.submit(bad)
    assert harness.stored() == (2, 2)
    assert [j.job_id for j in harness.store.newest(10, JobStatus.SCHEDULED)] == [later]
    assert [e.event for e in harness.store.events(later)] == ["scheduled"]


def test_cancel_then_retry_a_job_that_never_ran(harness: Harness) -> None:
    job_id = harness.store.submit(NewJob("a", {}))
    assert harness.store.retry(job_id) == JobStatus.PENDING  # not retryable: unchanged
    assert harness.store.cancel(job_id) == JobStatus.PENDING
    assert harness.stored() == (1, 0)  # its message is gone
    assert harness.store.cancel(job_id) == JobStatus.CANCELLED  # already: nothing changes
    assert [j.job_id for j in harness.store.newest(10, JobStatus.CANCELLED)] == [job_id]
    assert harness.store.retry(job_id) == JobStatus.CANCELLED
    job = harness.store.get(job_id)
    assert job is not None
    assert (job.status, job.run, job.attempts, job.finished_at) == (JobStatus.PENDING, 2, 0, None)
    assert harness.stored() == (1, 1)  # a new message
    assert [(e.run, e.event) for e in harness.store.events(job_id)] == [
        (1, "submitted"),
        (1, "cancelled"),
        (2, "retried"),
    ]
    missing = uuid.uuid4()
    assert harness.store.cancel(missing) is None and harness.store.retry(missing) is None
    assert harness.store.events(missing) == []


def test_events_cancel_and_retry_of_an_owned_job_are_its_owners_alone(harness: Harness) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    claims = json.dumps({"sub": str(alice), "role": "authenticated"})
    owned = harness.store.submit(NewJob("mine", {}, owner=Caller(alice, claims)))
    public = harness.store.submit(NewJob("demo", {}))
    for stranger in (bob, None):
        assert harness.store.events(owned, stranger) == []
        assert harness.store.cancel(owned, stranger) is None
        assert harness.store.retry(owned, stranger) is None
    assert harness.store.cancel(public, alice) is None  # a public job is not alice's either
    still = harness.store.get(owned, alice)
    assert still is not None and still.status == JobStatus.PENDING  # nobody else touched it
    assert harness.store.cancel(owned, alice) == JobStatus.PENDING
    assert [e.event for e in harness.store.events(owned, alice)] == ["submitted", "cancelled"]
    cancelled = harness.store.newest(10, JobStatus.CANCELLED, owner=alice)
    assert [j.job_id for j in cancelled] == [owned]
    assert harness.store.newest(10, JobStatus.CANCELLED) == []  # the public list: not there
    assert harness.store.retry(owned, alice) == JobStatus.CANCELLED
    assert [j.job_id for j in harness.store.newest(10, JobStatus.PENDING)] == [public]

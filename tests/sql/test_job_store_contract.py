"""One contract, two JobStores: the in-memory fake the unit tests use must decide submissions
and idempotency keys as the Postgres store (submit_job) does."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

import psycopg
import pytest

from functions import once
from functions.core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidInput
from functions.core.models import Caller, JobStatus, NewBatch, NewJob
from functions.core.ports import JobStore
from functions.db.store import PgJobStore
from tests.db_state import jobs_and_messages
from tests.inmemory import IDEMPOTENCY_TTL_S, InMemoryDatabase, MemoryJobStore


class Harness(Protocol):
    @property
    def store(self) -> JobStore: ...

    def stored(self) -> tuple[int, int]: ...

    def expire_keys(self) -> None: ...

    def in_flight(self, key: str) -> AbstractContextManager[None]: ...


@dataclass
class MemoryHarness:
    store: MemoryJobStore
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
        yield MemoryHarness(MemoryJobStore(InMemoryDatabase(wall=lambda: now[0])), now)
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


def test_an_owned_batch_is_its_owners_alone(harness: Harness) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    claims = json.dumps({"sub": str(alice), "role": "authenticated"})
    batch = NewBatch((NewJob("a", {}), NewJob("b", {})), owner=Caller(alice, claims))
    owned = harness.store.submit_many(batch)
    public = harness.store.submit_many(NewBatch((NewJob("demo", {}),)))
    for job_id in owned:
        job = harness.store.get(job_id, alice)
        assert job is not None and job.owner_id == alice
        assert harness.store.get(job_id, bob) is None and harness.store.get(job_id) is None
    assert sorted(j.job_id for j in harness.store.newest(10, owner=alice)) == sorted(owned)
    assert [j.job_id for j in harness.store.newest(10)] == public


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


# --- batches (submit_jobs) -----------------------------------------------------------------


def test_a_batch_is_stored_in_order_and_each_job_has_its_own_message(harness: Harness) -> None:
    batch = NewBatch((NewJob(" a ", {"n": 1}), NewJob("b", {}), NewJob("c", {"n": 3})))
    job_ids = harness.store.submit_many(batch)
    assert len(job_ids) == len(set(job_ids)) == 3
    jobs = [harness.store.get(job_id) for job_id in job_ids]
    assert [(j.task_name, j.payload) for j in jobs if j] == [
        ("a", {"n": 1}),
        ("b", {}),
        ("c", {"n": 3}),
    ]
    assert len({j.msg_id for j in jobs if j}) == 3
    assert harness.stored() == (3, 3)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (NewJob("", {}), "items[2].task_name"),
        (NewJob("x" * 201, {}), "items[2].task_name"),
        (NewJob("ok", {"s": "y" * 70_000}), "items[2].payload"),
        (NewJob("ok", {"deep": json.loads("[" * 65 + "]" * 65)}), "items[2].payload"),
    ],
)
def test_one_bad_item_refuses_the_whole_batch_naming_it(
    harness: Harness, bad: NewJob, where: str
) -> None:
    batch = NewBatch((NewJob("a", {}), NewJob("b", {}), bad, NewJob("d", {})))
    with pytest.raises(InvalidInput, match=re.escape(where)):
        harness.store.submit_many(batch)
    assert harness.stored() == (0, 0)


@pytest.mark.parametrize("size", [0, 1001])
def test_a_batch_holds_one_to_a_thousand_jobs(harness: Harness, size: int) -> None:
    with pytest.raises(InvalidInput):
        harness.store.submit_many(NewBatch(tuple(NewJob("a", {}) for _ in range(size))))
    assert harness.stored() == (0, 0)


def test_a_thousand_jobs_fit_in_one_batch(harness: Harness) -> None:
    job_ids = harness.store.submit_many(NewBatch(tuple(NewJob(f"j{i}", {}) for i in range(1000))))
    assert len(set(job_ids)) == 1000
    last = harness.store.get(job_ids[-1])
    assert last is not None and last.task_name == "j999"
    assert harness.stored() == (1000, 1000)


def test_a_key_covers_the_whole_batch(harness: Harness) -> None:
    jobs = (NewJob("a", {"x": 1, "y": 2}), NewJob("b", {}))
    first = harness.store.submit_many(NewBatch(jobs, "bk"))
    reordered = (NewJob("a", {"y": 2, "x": 1}), NewJob("b", {}))
    assert harness.store.submit_many(NewBatch(reordered, "bk")) == first
    for other in [jobs[::-1], jobs[:1], (*jobs, NewJob("c", {}))]:
        with pytest.raises(IdempotencyKeyReused):
            harness.store.submit_many(NewBatch(other, "bk"))
    # A single job under a batch's key, or a batch of one under a single job's key, is another
    # request.
    with pytest.raises(IdempotencyKeyReused):
        harness.store.submit(NewJob("a", {"x": 1, "y": 2}, "bk"))
    harness.store.submit(NewJob("a", {}, "sk"))
    with pytest.raises(IdempotencyKeyReused):
        harness.store.submit_many(NewBatch((NewJob("a", {}),), "sk"))
    assert harness.stored() == (3, 3)


def test_a_batch_key_in_flight_is_refused_at_once(harness: Harness) -> None:
    with harness.in_flight("busy"), pytest.raises(IdempotencyKeyInFlight):
        harness.store.submit_many(NewBatch((NewJob("a", {}),), "busy"))
    assert harness.stored() == (0, 0)


def test_a_batch_opens_each_jobs_history_as_pending(harness: Harness) -> None:
    job_ids = harness.store.submit_many(NewBatch((NewJob("a", {}), NewJob("b", {}))))
    for job_id in job_ids:
        job = harness.store.get(job_id)
        assert job is not None and job.status is JobStatus.PENDING and job.run == 1
        assert [(e.event, e.status) for e in harness.store.events(job_id)] == [
            ("submitted", "pending")
        ]


def test_a_batch_item_with_a_start_time_refuses_the_batch(harness: Harness) -> None:
    delayed = NewJob("b", {}, delay_s=5.0)
    with pytest.raises(InvalidInput, match=re.escape("items[1]")):
        harness.store.submit_many(NewBatch((NewJob("a", {}), delayed)))
    assert harness.stored() == (0, 0)


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

"""Own jobs in Postgres, on a plain and a hosted-like database: a job submitted with a user's
claims belongs to that user (owner_id from auth.uid()), each signed-in user reads only their
own jobs under RLS, anon reads only the public demo jobs, and the claims end with the
submitting transaction. A job's events are read, and the job cancelled or retried, only as the
job itself is read (migration 20261201004200 and the store's scoped statements)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from functions import once
from functions.core.models import Caller, JobStatus, NewBatch, NewJob
from functions.db.store import PgJobStore

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def caller(user: uuid.UUID) -> Caller:
    claims = {"sub": str(user), "role": "authenticated", "aud": "authenticated"}
    return Caller(user_id=user, claims_json=json.dumps(claims))


@pytest.fixture
def store(any_db_url: str) -> Iterator[PgJobStore]:
    yield PgJobStore(any_db_url)
    once.reset_all()


@pytest.fixture
def jobs(store: PgJobStore) -> dict[str, uuid.UUID]:
    return {
        "alice": store.submit(NewJob("alice's report", {}, owner=caller(ALICE))),
        "bob": store.submit(NewJob("bob's report", {}, owner=caller(BOB))),
        "public": store.submit(NewJob("demo", {})),
    }


def visible_to(url: str, role: str, user: uuid.UUID | None, statement: str = "") -> set[str]:
    with psycopg.connect(url) as conn:
        conn.execute(f"set local role {role}")
        if user is not None:
            claims = json.dumps({"sub": str(user), "role": role})
            conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        rows = conn.execute(statement or "select task_name from public.job_results").fetchall()
    return {row[0] for row in rows}


# The jobs whose events a role can read.
EVENTS_OF = "select distinct e.job_id::text from public.job_events e"


def test_each_user_reads_only_their_own_jobs_and_anon_only_the_public_ones(
    any_db_url: str, jobs: dict[str, uuid.UUID]
) -> None:
    assert visible_to(any_db_url, "authenticated", ALICE) == {"alice's report"}
    assert visible_to(any_db_url, "authenticated", BOB) == {"bob's report"}
    assert visible_to(any_db_url, "authenticated", uuid.uuid4()) == set()
    assert visible_to(any_db_url, "authenticated", None) == set()
    assert visible_to(any_db_url, "anon", None) == {"demo"}


def test_the_owner_is_stored_and_the_store_scopes_its_reads(
    any_db_url: str, store: PgJobStore, jobs: dict[str, uuid.UUID]
) -> None:
    with psycopg.connect(any_db_url) as conn:
        owners: dict[str, uuid.UUID | None] = dict(
            conn.execute("select task_name, owner_id from job_results").fetchall()
        )
    assert owners == {"alice's report": ALICE, "bob's report": BOB, "demo": None}
    assert [j.task_name for j in store.newest(10, owner=ALICE)] == ["alice's report"]
    assert [j.task_name for j in store.newest(10)] == ["demo"]
    assert store.get(jobs["alice"], ALICE) is not None
    assert store.get(jobs["alice"], BOB) is None
    assert store.get(jobs["alice"]) is None
    assert store.get(jobs["public"], ALICE) is None


def test_an_owned_batch_is_visible_only_to_its_owner_under_rls(
    any_db_url: str, store: PgJobStore
) -> None:
    batch = NewBatch((NewJob("alice's a", {}), NewJob("alice's b", {})), owner=caller(ALICE))
    store.submit_many(batch)
    store.submit_many(NewBatch((NewJob("demo", {}),)))
    assert visible_to(any_db_url, "authenticated", ALICE) == {"alice's a", "alice's b"}
    assert visible_to(any_db_url, "authenticated", BOB) == set()
    assert visible_to(any_db_url, "anon", None) == {"demo"}
    # Their events follow them: Alice reads both jobs' 'submitted' events, nobody else does.
    events = (
        "select j.task_name || ':' || e.event from public.job_events e"
        " join public.job_results j using (job_id)"
    )
    assert visible_to(any_db_url, "authenticated", ALICE, events) == {
        "alice's a:submitted",
        "alice's b:submitted",
    }
    assert visible_to(any_db_url, "authenticated", BOB, events) == set()


def test_the_claims_end_with_the_submitting_transaction(any_db_url: str) -> None:
    # What a transaction pooler needs: the next transaction on the same server session (the
    # next client's, behind a pooler) starts with no claims and so submits a public job.
    with psycopg.connect(any_db_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(
                "select set_config('request.jwt.claims', %s, true)",
                (json.dumps({"sub": str(ALICE)}),),
            )
            conn.execute("select submit_job('owned')")
        assert conn.execute("select auth.uid()").fetchone() == (None,)
        conn.execute("select submit_job('anonymous')")
        rows = conn.execute("select task_name, owner_id from job_results").fetchall()
    assert dict(rows) == {"owned": ALICE, "anonymous": None}


def test_a_user_cannot_claim_or_move_a_job(any_db_url: str, jobs: dict[str, uuid.UUID]) -> None:
    with psycopg.connect(any_db_url) as conn:
        conn.execute("set local role authenticated")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": str(BOB)}),)
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("update job_results set owner_id = %s", (BOB,))


def test_events_are_readable_only_as_their_job_is(
    any_db_url: str, jobs: dict[str, uuid.UUID]
) -> None:
    ids = {name: str(job_id) for name, job_id in jobs.items()}
    assert visible_to(any_db_url, "authenticated", ALICE, EVENTS_OF) == {ids["alice"]}
    assert visible_to(any_db_url, "authenticated", BOB, EVENTS_OF) == {ids["bob"]}
    assert visible_to(any_db_url, "authenticated", None, EVENTS_OF) == set()
    assert visible_to(any_db_url, "anon", None, EVENTS_OF) == {ids["public"]}


def test_clients_cannot_call_cancel_or_retry_directly(
    any_db_url: str, jobs: dict[str, uuid.UUID]
) -> None:
    for function in ("cancel_job", "retry_job"):
        for role in ("anon", "authenticated"):
            with psycopg.connect(any_db_url) as conn:
                conn.execute(f"set local role {role}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"select public.{function}(%s)", (jobs["alice"],))


def test_the_store_cancels_and_retries_only_the_callers_own_jobs(
    store: PgJobStore, jobs: dict[str, uuid.UUID]
) -> None:
    alice = jobs["alice"]
    for stranger in (BOB, None):
        assert store.cancel(alice, stranger) is None
        assert store.retry(alice, stranger) is None
        assert store.events(alice, stranger) == []
    assert store.cancel(jobs["public"], ALICE) is None
    job = store.get(alice, ALICE)
    assert job is not None and job.status == JobStatus.PENDING and job.cancel_requested_at is None
    assert store.cancel(alice, ALICE) == JobStatus.PENDING
    assert [e.event for e in store.events(alice, ALICE)] == ["submitted", "cancelled"]
    assert store.retry(alice, ALICE) == JobStatus.CANCELLED
    public = store.get(jobs["public"])
    assert public is not None and public.status == JobStatus.PENDING

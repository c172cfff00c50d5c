"""Own jobs in Postgres, on a plain and a hosted-like database: a job submitted with a user's
claims belongs to that user (owner_id from auth.uid()), each signed-in user reads only their
own jobs under RLS, anon reads only the public demo jobs, and the claims end with the
submitting transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from functions import once
from functions.core.models import Caller, NewJob
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


def visible_to(url: str, role: str, user: uuid.UUID | None) -> set[str]:
    with psycopg.connect(url) as conn:
        conn.execute(f"set local role {role}")
        if user is not None:
            claims = json.dumps({"sub": str(user), "role": role})
            conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        rows = conn.execute("select task_name from public.job_results").fetchall()
    return {row[0] for row in rows}


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
        owners = dict(conn.execute("select task_name, owner_id from job_results").fetchall())
    assert owners == {"alice's report": ALICE, "bob's report": BOB, "demo": None}
    assert [j.task_name for j in store.newest(10, ALICE)] == ["alice's report"]
    assert [j.task_name for j in store.newest(10)] == ["demo"]
    assert store.get(jobs["alice"], ALICE) is not None
    assert store.get(jobs["alice"], BOB) is None
    assert store.get(jobs["alice"]) is None
    assert store.get(jobs["public"], ALICE) is None


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

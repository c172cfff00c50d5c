"""A submit request's trace context is stored with the jobs it makes (job_results.traceparent),
whichever way they are submitted: one job, a batch, or a job with flow settings of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import UUID, uuid4

import psycopg
import pytest

from functions import once
from functions.core.flow import JobFlow
from functions.core.models import Caller, NewBatch, NewJob
from functions.db.store import PgJobStore

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def store(db_url: str) -> Iterator[PgJobStore]:
    yield PgJobStore(db_url)
    once.reset_all()


def traceparents(db_url: str, job_ids: list[UUID]) -> list[str | None]:
    with psycopg.connect(db_url) as conn:
        rows: dict[UUID, str | None] = dict(
            conn.execute(
                "select job_id, traceparent from job_results where job_id = any(%s)", (job_ids,)
            ).fetchall()
        )
    return [rows[job_id] for job_id in job_ids]


def test_each_way_of_submitting_stores_the_trace(store: PgJobStore, db_url: str) -> None:
    one = store.submit(NewJob("one", {}, kind="noop", traceparent=TRACE))
    batch = store.submit_many(
        NewBatch((NewJob("a", {}, kind="noop"), NewJob("b", {}, kind="noop")), traceparent=TRACE)
    )
    flow = JobFlow(priority=5, dedup_key="report")
    flowed, deduplicated = store.submit_flow(
        NewJob("flow", {}, kind="noop", flow=flow, traceparent=TRACE)
    )
    assert not deduplicated
    untraced = store.submit(NewJob("plain", {}, kind="noop"))
    assert traceparents(db_url, [one, *batch, flowed, untraced]) == [TRACE] * 4 + [None]
    # The same dedup key finds the job already there, trace and all.
    again, deduplicated = store.submit_flow(
        NewJob("flow", {}, kind="noop", flow=flow, traceparent=TRACE)
    )
    assert (again, deduplicated) == (flowed, True)


def test_a_signed_in_callers_job_keeps_both_its_owner_and_its_trace(
    store: PgJobStore, db_url: str
) -> None:
    user = uuid4()
    claims = json.dumps({"sub": str(user), "role": "authenticated"})
    owned = store.submit(
        NewJob("mine", {}, kind="noop", owner=Caller(user, claims), traceparent=TRACE)
    )
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "select owner_id, traceparent from job_results where job_id = %s", (owned,)
        ).fetchone()
    assert row == (user, TRACE)

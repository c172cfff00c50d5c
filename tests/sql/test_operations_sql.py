"""The operators' SQL (issue 23) on a real database: public.queue_metrics counts what the
worker's own transitions left, per kind and overall; the failures list and public.retry_jobs
share one filter, retry all or nothing, scoped by owner as retry_job's callers scope it; and
the API roles may call neither."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from functions import once
from functions.core.errors import InvalidInput, JobsChanged
from functions.core.models import Caller, JobStatus, NewJob, Outcome
from functions.core.operations import FailureFilter, Scope
from functions.db.ops_store import PgOpsStore
from functions.db.store import PgJobStore, PgWorkQueue

HOLDER = "test-worker"
ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def caller(user: uuid.UUID) -> Caller:
    claims = {"sub": str(user), "role": "authenticated", "aud": "authenticated"}
    return Caller(user_id=user, claims_json=json.dumps(claims))


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[PgJobStore, PgWorkQueue, PgOpsStore]]:
    yield PgJobStore(db_url), PgWorkQueue(db_url), PgOpsStore(db_url)
    once.reset_all()


def run_all(queue: PgWorkQueue, outcome: dict[str, tuple[JobStatus, str | None]]) -> None:
    """Claim everything visible and finish each job as ``outcome`` says for its task name."""
    batch = queue.claim(HOLDER, 100, 30)
    outcomes = []
    for claim in batch.started:
        status, error = outcome[claim.task_name]
        result = "ok" if status == JobStatus.COMPLETED else None
        outcomes.append(Outcome(claim, status, result, error))
    assert queue.finish(outcomes)


def submit(
    store: PgJobStore, name: str, kind: str = "noop", owner: Caller | None = None
) -> uuid.UUID:
    return store.submit(NewJob(name, {}, kind=kind, owner=owner))


def test_the_metrics_count_depth_outcomes_and_percentiles_per_kind_and_overall(
    stores: tuple[PgJobStore, PgWorkQueue, PgOpsStore], db_url: str
) -> None:
    store, queue, ops = stores
    for _ in range(3):
        submit(store, "good")
    for _ in range(2):
        submit(store, "bad", kind="echo")
    run_all(queue, {"good": (JobStatus.COMPLETED, None), "bad": (JobStatus.FAILED, "E: no\ntb")})
    for _ in range(4):
        submit(store, "later")  # waiting
    with psycopg.connect(db_url, autocommit=True) as conn:
        # One of them has waited a minute already.
        conn.execute(
            "update job_results set created_at = now() - interval '60 s'"
            " where job_id = (select job_id from job_results where task_name = 'later'"
            " limit 1)"
        )
        conn.execute("insert into private.wake_ups (wake_id, reason) values ('w1', 'test')")
    metrics = ops.metrics(300)
    overall, kinds = metrics["overall"], metrics["kinds"]
    assert overall["depth"] == {"pending": 4, "scheduled": 0, "running": 0}
    assert overall["finished"] == {"completed": 3, "failed": 2, "cancelled": 0}
    assert overall["failure_rate"] == pytest.approx(0.4)
    assert overall["finishes_per_min"] == pytest.approx(1.0)  # 5 in 5 minutes
    assert overall["starts_per_min"] == pytest.approx(1.0)
    assert 60 <= overall["oldest_waiting_s"] < 120
    assert overall["run_s"]["p50"] is not None and overall["wait_s"]["p95"] is not None
    assert kinds["noop"]["finished"]["completed"] == 3
    assert kinds["noop"]["depth"]["pending"] == 4
    assert kinds["echo"]["finished"] == {"completed": 0, "failed": 2, "cancelled": 0}
    assert kinds["echo"]["failure_rate"] == 1
    assert kinds["echo"]["depth"] == {"pending": 0, "scheduled": 0, "running": 0}
    assert metrics["wake_ups"]["sent"] == 1 and metrics["wake_ups"]["taken"] == 0
    assert sum(b["completed"] + b["failed"] for b in metrics["series"]) == 5
    assert metrics["window_s"] == 300


def test_the_metrics_of_an_empty_queue_are_zeros_not_nulls(
    stores: tuple[PgJobStore, PgWorkQueue, PgOpsStore],
) -> None:
    metrics = stores[2].metrics(60)
    assert metrics["overall"]["depth"] == {"pending": 0, "scheduled": 0, "running": 0}
    assert metrics["kinds"] == {}
    assert len(metrics["series"]) == 30  # every bucket, each with nothing in it
    assert {b["completed"] + b["failed"] + b["cancelled"] for b in metrics["series"]} == {0}


def test_the_metrics_refuse_a_window_out_of_range(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="window"):
        db.execute("select public.queue_metrics(5)")


def failed_jobs(
    stores: tuple[PgJobStore, PgWorkQueue, PgOpsStore],
    owner: Caller | None,
    count: int,
    error: str = "ValueError: x",
) -> list[uuid.UUID]:
    store, queue, _ = stores
    ids = [submit(store, f"bad-{error}", owner=owner) for _ in range(count)]
    run_all(queue, {f"bad-{error}": (JobStatus.FAILED, error + "\nTraceback ...")})
    return ids


def test_the_failures_list_groups_by_kind_and_first_error_line_and_retry_takes_exactly_those(
    stores: tuple[PgJobStore, PgWorkQueue, PgOpsStore], db_url: str
) -> None:
    store, _, ops = stores
    a = failed_jobs(stores, None, 3, "ValueError: a")
    b = failed_jobs(stores, None, 2, "KeyError: b")
    alices = failed_jobs(stores, caller(ALICE), 2, "ValueError: a")
    at, groups = ops.failures(Scope(None), FailureFilter(), 50)
    assert [(g.kind, g.error, g.jobs) for g in groups] == [
        ("noop", "ValueError: a", 3),
        ("noop", "KeyError: b", 2),
    ]
    assert set(groups[0].job_ids) == set(a)
    # An operator sees every owner's.
    _, every = ops.failures(Scope(None, any_owner=True), FailureFilter(), 50)
    assert sum(g.jobs for g in every) == 7
    # Retrying what the list showed of one group retries exactly those three.
    shown = FailureFilter(error="ValueError: a", until=at, expect=3)
    assert ops.retry_many(Scope(None), shown) == 3
    assert {store.get(j).status for j in a} == {JobStatus.PENDING}  # type: ignore[union-attr]
    assert {store.get(j).status for j in b} == {JobStatus.FAILED}  # type: ignore[union-attr]
    owned = {store.get(j, ALICE).status for j in alices}  # type: ignore[union-attr]
    assert owned == {JobStatus.FAILED}
    with psycopg.connect(db_url) as conn:
        runs = conn.execute("select run from job_results where job_id = any(%s)", (a,)).fetchall()
        queued = conn.execute(
            "select count(*) from pgmq.q_work_queue q join job_results j"
            " on j.msg_id = q.msg_id where j.job_id = any(%s)",
            (a,),
        ).fetchone()
    assert {r[0] for r in runs} == {2} and queued == (3,)


def test_a_bulk_retry_is_all_or_nothing(
    stores: tuple[PgJobStore, PgWorkQueue, PgOpsStore],
) -> None:
    store, _, ops = stores
    mine = failed_jobs(stores, None, 2)
    theirs = failed_jobs(stores, caller(BOB), 1)
    # A job id of another owner among the named: none is retried.
    with pytest.raises(JobsChanged, match="1 of the 3"):
        ops.retry_many(Scope(None), FailureFilter(job_ids=(*mine, *theirs)))
    # Another count than the caller saw: none is retried.
    with pytest.raises(JobsChanged, match="2 jobs match now, not the 5"):
        ops.retry_many(Scope(None), FailureFilter(expect=5))
    assert {store.get(j).status for j in mine} == {JobStatus.FAILED}  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="status"):
        ops.retry_many(Scope(None), FailureFilter(status="completed"))
    # Bob retries his own, by name.
    assert ops.retry_many(Scope(BOB), FailureFilter(job_ids=tuple(theirs))) == 1
    assert store.get(theirs[0], BOB).status == JobStatus.PENDING  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "statement",
    ["select public.queue_metrics(60)", "select public.retry_jobs(null, true)"],
)
@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_the_api_roles_may_call_neither(db_url: str, role: str, statement: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(f"set local role {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)

"""Dedup and debounce at submit (public.submit_job_flow), atomic under concurrent submits."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.sql.flow_helpers import act_as

SUBMIT = """select job_id, deduplicated from submit_job_flow(%(name)s, %(payload)s,
    kind => %(kind)s, dedup_key => %(key)s, debounce_seconds => %(debounce)s)"""


def submit(
    conn: psycopg.Connection,
    key: str,
    payload: Any = None,
    debounce: float | None = None,
    kind: str = "noop",
) -> tuple[Any, bool]:
    row = conn.execute(
        SUBMIT,
        {
            "name": "gen",
            "payload": Jsonb(payload or {}),
            "kind": kind,
            "key": key,
            "debounce": debounce,
        },
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_fifty_concurrent_identical_submits_create_exactly_one_job(db_url: str) -> None:
    barrier = threading.Barrier(50)
    answers: list[tuple[Any, bool]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as conn:
                barrier.wait(timeout=30)
                answers.append(submit(conn, "generate-report"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(answers) == 50
    with psycopg.connect(db_url, autocommit=True) as db:
        jobs = db.execute("select job_id from job_results").fetchall()
        messages = db.execute("select count(*) from pgmq.q_work_queue").fetchone()
    assert len(jobs) == 1 and messages == (1,)
    assert {job_id for job_id, _ in answers} == {jobs[0][0]}
    assert sorted(flag for _, flag in answers) == [False] + [True] * 49


def test_a_finished_job_frees_its_key_and_owners_do_not_share_keys(db: psycopg.Connection) -> None:
    first, again = submit(db, "k"), submit(db, "k")
    assert again == (first[0], True)
    db.execute("update job_results set status = 'completed' where job_id = %s", (first[0],))
    fresh = submit(db, "k")
    assert fresh[1] is False and fresh[0] != first[0]
    with db.transaction():
        act_as(db, str(uuid.uuid4()))
        someone_else = submit(db, "k")
    assert someone_else[1] is False and someone_else[0] not in (first[0], fresh[0])


def test_debounce_pushes_the_start_back_and_the_latest_payload_wins(db: psycopg.Connection) -> None:
    job_id, _ = submit(db, "save", {"v": 1}, debounce=5)
    before = db.execute(
        "select j.run_at, q.vt from job_results j join pgmq.q_work_queue q using (msg_id)"
        " where job_id = %s",
        (job_id,),
    ).fetchone()
    assert before is not None and before[0] == before[1]
    again, deduplicated = submit(db, "save", {"v": 2}, debounce=20)
    assert (again, deduplicated) == (job_id, True)
    after = db.execute(
        "select j.status, j.payload, j.run_at, q.vt from job_results j"
        " join pgmq.q_work_queue q using (msg_id) where job_id = %s",
        (job_id,),
    ).fetchone()
    assert after is not None
    assert after[:2] == ("scheduled", {"v": 2})
    assert after[2] == after[3] and after[2] > before[0]
    assert db.execute("select count(*) from job_results").fetchone() == (1,)


def test_a_running_job_is_returned_not_debounced(db: psycopg.Connection) -> None:
    job_id, _ = submit(db, "busy", {"v": 1})
    db.execute("select * from private.claim_jobs('w', 10, 30)")
    assert submit(db, "busy", {"v": 2}, debounce=5) == (job_id, True)
    assert db.execute("select status, payload from job_results").fetchone() == ("running", {"v": 1})


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"dedup_key": ""}, "/dedup_key"),
        ({"dedup_key": "a\tb"}, "/dedup_key"),
        ({"debounce_seconds": 3}, "/debounce_seconds"),
        ({"dedup_key": "x", "debounce_seconds": -1}, "/debounce_seconds"),
        ({"priority": 11}, "/priority"),
        ({"concurrency_key": "tenant-1"}, "/concurrency_limit"),
        ({"concurrency_limit": 0}, "/concurrency_limit"),
    ],
)
def test_bad_flow_settings_raise_22023_with_the_field(
    db: psycopg.Connection, arguments: dict[str, Any], field: str
) -> None:
    named = ", ".join(f"{name} => %({name})s" for name in arguments)
    with pytest.raises(psycopg.Error) as caught:
        db.execute(f"select * from submit_job_flow('x', kind => 'noop', {named})", arguments)
    assert caught.value.sqlstate == "22023"
    assert caught.value.diag.column_name == field
    assert db.execute("select count(*) from job_results").fetchone() == (0,)

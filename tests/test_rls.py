"""What the anon key can and cannot do, checked as the anon role itself."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def anon(db_url: str) -> psycopg.Connection:
    with psycopg.connect(db_url, autocommit=True) as setup:
        setup.execute("select submit_job('visible')")
    conn = psycopg.connect(db_url, autocommit=True)
    conn.execute("set role anon")
    return conn


def test_anon_reads_jobs(anon: psycopg.Connection) -> None:
    rows = anon.execute("select task_name, status from job_results").fetchall()
    assert rows == [("visible", "pending")]


@pytest.mark.parametrize(
    "statement",
    [
        "insert into job_results (task_name) values ('forged')",
        "update job_results set status = 'completed'",
        "delete from job_results",
        "select * from pgmq.q_work_queue",
        "select * from pgmq.read('work_queue', 30, 1)",
        "select pgmq.send('work_queue', '{}'::jsonb)",
        "select submit_job('sneaky')",
        "select * from private.settings",
        "select * from net.http_request_queue",
    ],
)
def test_anon_cannot_write_jobs_or_touch_the_queue(
    anon: psycopg.Connection, statement: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        anon.execute(statement)
    anon.execute("reset role")
    assert anon.execute("select task_name, status from job_results").fetchall() == [
        ("visible", "pending")
    ]

"""What the anon key can and cannot do, checked as the anon role itself, on a plain Postgres
prepared by devstack.postgres.migrate and on a hosted-like one migrated as the non-superuser
postgres."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.types.json import Jsonb


@pytest.fixture
def anon(any_db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(any_db_url, autocommit=True) as setup:
        setup.execute(
            "insert into private.settings (name, value) values"
            " ('job_webhook_url', 'http://127.0.0.1:9/webhook'),"
            " ('job_webhook_secret', 'whsec_cmxzLXRlc3QtcXVldWVkLWNhbGwtc2VjcmV0LTMy')"
        )
        setup.execute("select submit_job('visible')")
    with psycopg.connect(any_db_url, autocommit=True) as conn:
        conn.execute("set role anon")
        yield conn


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
        """select submit_jobs('[{"task_name": "sneaky"}]')""",
        "select * from private.settings",
        "select * from private.webhook_target()",
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


def test_anon_can_read_rewrite_and_queue_webhook_calls_as_pg_net_allows(
    anon: psycopg.Connection,
) -> None:
    # The truth on hosted Supabase: pg_net grants its tables to PUBLIC and the platform grants
    # the schema to anon, so a queued call's headers are readable and its URL rewritable. The
    # webhook's request signature, not these grants, is what keeps a leaked call harmless.
    seen = anon.execute("select url, headers from net.http_request_queue").fetchall()
    anon.execute("reset role")
    assert seen == anon.execute("select url, headers from net.http_request_queue").fetchall()
    assert len(seen) == 1 and seen[0][1]  # every header the trigger sent, secrets included
    anon.execute("set role anon")
    changed = anon.execute(
        "update net.http_request_queue set url = 'http://127.0.0.1:9/elsewhere' returning id"
    ).fetchall()
    assert len(changed) == 1
    row = anon.execute(
        "select net.http_post('http://127.0.0.1:9/x', %s)", (Jsonb({"from": "anon"}),)
    ).fetchone()
    assert row is not None and row[0] > 0
    assert anon.execute("select count(*) from net.http_request_queue").fetchone() == (2,)

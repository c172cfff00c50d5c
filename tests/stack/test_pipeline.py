"""The whole path over real HTTP on loopback: submit → submit_job → trigger → relay → webhook →
async invoke → process_job → result row."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.local_stack import Stack, running_stack


@pytest.fixture
def stack(db_url: str) -> Iterator[Stack]:
    with running_stack(db_url) as running:
        yield running


def test_a_submitted_job_goes_pending_running_completed(stack: Stack) -> None:
    seen: list[str] = []

    with psycopg.connect(stack.database_url, autocommit=True) as listener:
        listener.execute(
            "create table status_log as select null::uuid as job_id, null::text as status limit 0;"
            " create function log_status() returns trigger language plpgsql as $$ begin"
            " insert into status_log values (new.job_id, new.status); return new; end $$;"
            " create trigger log_status after insert or update of status on job_results"
            " for each row execute function log_status();"
        )
    job_id = stack.submit("Quarterly report", payload={"seconds": 0.3})

    job = stack.wait_for_status(job_id, "completed", timeout=30)
    with psycopg.connect(stack.database_url) as conn:
        seen = [
            r[0]
            for r in conn.execute(
                "select status from status_log where job_id = %s", (job_id,)
            ).fetchall()
        ]
    assert seen == ["pending", "running", "completed"]
    assert job["attempts"] == 1
    assert job["result"].startswith("Task 'Quarterly report' completed in 0.3")
    assert stack.archived(job["msg_id"])

    status, body = stack.request("submit", "GET", f"/jobs/{job_id}")
    assert status == 200
    assert body["status"] == "completed" and body["attempts"] == 1


def test_a_task_that_raises_is_retried_then_fails(stack: Stack) -> None:
    job_id = stack.submit("doomed", kind="fail", payload={"message": "disk on fire"})
    job = stack.wait_for_status(job_id, "failed", timeout=30)
    assert job["attempts"] == 3
    assert job["error"] == "RuntimeError: disk on fire"
    assert job["result"] is None
    assert stack.archived(job["msg_id"])


def test_a_flaky_task_succeeds_on_a_later_attempt(stack: Stack) -> None:
    job_id = stack.submit("flaky", kind="flaky", payload={"succeed_on": 2})
    job = stack.wait_for_status(job_id, "completed", timeout=30)
    assert job["attempts"] == 2
    assert job["result"] == "succeeded on attempt 2"
    assert job["error"] is None


def test_an_unknown_task_fails_at_once_with_a_clear_error(stack: Stack) -> None:
    # The API refuses a kind no worker has published, storing nothing ...
    status, body = stack.request(
        "submit", "POST", "/jobs", {"task_name": "mystery", "kind": "no_such_task"}
    )
    assert status == 400 and "kind 'no_such_task' is not a known task" in body["error"]["message"]
    assert body["error"]["field"] == "/kind"
    # ... and so does the database, to a caller around the API ...
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="not a known task kind"):
            conn.execute("select submit_job('mystery', '{}', kind => 'no_such_task')")
        # ... while a kind another worker version published, which this worker no longer has,
        # is accepted and fails at the worker with the kinds it knows.
        conn.execute(
            "insert into public.task_kinds (kind, time_limit_s) values ('retired_task', 5)"
        )
        row = conn.execute("select submit_job('mystery', '{}', kind => 'retired_task')").fetchone()
    assert row is not None
    job_id = str(row[0])
    job = stack.wait_for_status(job_id, "failed", timeout=30)
    assert job["attempts"] == 1
    assert "unknown task 'retired_task'" in job["error"]

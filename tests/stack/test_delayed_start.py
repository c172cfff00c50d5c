"""Delayed start over the whole local path: a sweep before a scheduled job is due leaves it
alone, and the first sweep after it is due runs it (that the trigger queues no wake-up at
submit is shown in tests/test_job_lifecycle_sql.py, where no relay consumes the queue)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from devstack.sweeper import drain_once
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for


@pytest.fixture
def stack(embedded_db_url: str) -> Iterator[Stack]:
    # No linger: a worker the early sweep woke would otherwise wait in its claim and take the
    # job the moment it came due (the warm path); here the sweep alone must start it.
    with running_stack(embedded_db_url, extra_env={"WORKER_LINGER_SECONDS": "0"}) as running:
        yield running


def test_a_scheduled_job_runs_at_the_first_sweep_after_it_is_due(stack: Stack) -> None:
    status, accepted = stack.request(
        "submit", "POST", "/jobs", {"task_name": "Later", "kind": "noop", "delay_seconds": 2}
    )
    assert (status, accepted["status"]) == (202, "scheduled")
    job_id = accepted["job_id"]
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("select run_at from job_results where job_id = %s", (job_id,)).fetchone()
    assert row is not None
    run_at = row[0]

    assert drain_once(stack.url("process_job"), stack.secret) == 200  # before it is due
    assert stack.job(job_id)["status"] == "scheduled"

    wait_for(lambda: datetime.now(UTC) >= run_at, timeout=10, what="the due time")
    assert drain_once(stack.url("process_job"), stack.secret) == 200
    job = stack.wait_for_status(job_id, "completed", timeout=10)
    assert job["attempts"] == 1
    status, body = stack.request("submit", "GET", f"/jobs/{job_id}")
    assert [e["event"] for e in body["events"]] == ["scheduled", "started", "completed"]
    started = datetime.fromisoformat(body["started_at"])
    assert started >= run_at

"""Fault injection with real processes on loopback: every job that got 202 ends in exactly one
terminal state, whatever fails in between."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.postgres import migrate
from devstack.postgres.embedded import embedded
from devstack.sweeper import Sweeper
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for

STATUS_LOG = """
create table status_log (job_id uuid, status text, at timestamptz default clock_timestamp());
create function log_status() returns trigger language plpgsql as $$
begin
  insert into status_log (job_id, status) values (new.job_id, new.status);
  return new;
end $$;
create trigger log_status after insert or update of status on job_results
  for each row execute function log_status();
"""


def install_status_log(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(STATUS_LOG)


def outcome(url: str) -> dict[str, Any]:
    """Totals that prove nothing was lost or done twice."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select
                 count(*),
                 count(*) filter (where status = 'completed'),
                 count(*) filter (where status = 'failed'),
                 (select count(*) from pgmq.q_work_queue),
                 (select count(distinct msg_id) from pgmq.a_work_queue),
                 (select count(*) from pgmq.a_work_queue),
                 (select coalesce(max(n), 0) from (
                    select count(*) n from status_log where status in ('completed', 'failed')
                    group by job_id) t)
               from job_results"""
        ).fetchone()
    assert row is not None
    keys = ("jobs", "completed", "failed", "queued", "archived_ids", "archived", "max_terminal")
    return dict(zip(keys, row, strict=True))


def all_finished(url: str, expected: int) -> dict[str, Any] | None:
    state = outcome(url)
    done = state["completed"] + state["failed"]
    return state if done >= expected and state["queued"] == 0 else None


@pytest.fixture
def sweeper_for() -> Iterator[Any]:
    started: list[Sweeper] = []

    def start(stack: Stack, interval_s: float = 0.5) -> Sweeper:
        sweeper = Sweeper(stack.database_url, interval_s).start()
        started.append(sweeper)
        return sweeper

    yield start
    for sweeper in started:
        sweeper.stop()


def test_a_worker_killed_mid_task_is_retried_after_the_visibility_timeout(
    embedded_db_url: str, sweeper_for: Any
) -> None:
    install_status_log(embedded_db_url)
    env = {"VISIBILITY_TIMEOUT_SECONDS": "2", "TASK_MAX_SECONDS": "30"}
    with running_stack(embedded_db_url, extra_env=env) as stack:
        job_id = stack.submit("long", payload={"seconds": 3})
        wait_for(lambda: stack.job(job_id)["status"] == "running", what="job to start")
        stack.processes["process_job"].kill()
        stack.start_function("process_job")
        sweeper_for(stack)
        job = stack.wait_for_status(job_id, "completed", timeout=60)
    assert job["attempts"] == 2
    assert job["result"].startswith("Task 'long' completed in 3.0")
    state = outcome(embedded_db_url)
    assert (state["completed"], state["archived"], state["max_terminal"]) == (1, 1, 1)


def test_jobs_submitted_while_the_webhook_is_down_complete_through_the_sweeper(
    embedded_db_url: str, sweeper_for: Any
) -> None:
    install_status_log(embedded_db_url)
    with running_stack(embedded_db_url, functions=("submit", "process_job")) as stack:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda i: stack.submit(f"j{i}", kind="noop"), range(200)))
        # The relay tried and failed: every wake-up is lost, nothing ran. The burst queued one
        # call (the wake-up window), not one per job.
        with psycopg.connect(embedded_db_url) as conn:
            failed = wait_for(
                lambda: (
                    conn.execute(
                        "select count(*) from net._http_response where error_msg is not null"
                        " having (select count(*) from net.http_request_queue) = 0"
                    ).fetchone()
                    or (0,)
                )[0],
                what="the relay to record its failed deliveries",
            )
            assert 1 <= failed < 200
        assert outcome(embedded_db_url)["completed"] == 0
        stack.start_function("webhook")
        sweeper_for(stack)
        state = wait_for(lambda: all_finished(embedded_db_url, 200), timeout=120, what="drain")
    assert len(set(ids)) == 200
    assert state == {
        "jobs": 200,
        "completed": 200,
        "failed": 0,
        "queued": 0,
        "archived_ids": 200,
        "archived": 200,
        "max_terminal": 1,
    }


def test_the_same_webhook_ten_times_at_once_runs_the_task_once(embedded_db_url: str) -> None:
    install_status_log(embedded_db_url)
    with running_stack(embedded_db_url, functions=("webhook", "process_job"), relay=False) as stack:
        with psycopg.connect(embedded_db_url, autocommit=True) as conn:
            row = conn.execute("select submit_job('once', '{\"seconds\": 0.5}')").fetchone()
            # The signed wake-up the trigger queued (no relay sends it), delivered ten times.
            queued = conn.execute("select headers, body from net.http_request_queue").fetchone()
        assert row is not None and queued is not None
        headers, body = queued
        barrier = threading.Barrier(10)

        def fire(_: int) -> int:
            barrier.wait(timeout=10)
            return stack.request("webhook", "POST", "/", headers=headers, raw=bytes(body))[0]

        with ThreadPoolExecutor(10) as pool:
            statuses = list(pool.map(fire, range(10)))
        assert statuses == [202] * 10
        job = stack.wait_for_status(str(row[0]), "completed")
    assert job["attempts"] == 1
    with psycopg.connect(embedded_db_url) as conn:
        log = conn.execute("select status from status_log order by at").fetchall()
    assert [s for (s,) in log] == ["pending", "running", "completed"]


def test_a_poison_job_fails_after_the_maximum_attempts_and_blocks_nothing(
    embedded_db_url: str, sweeper_for: Any
) -> None:
    install_status_log(embedded_db_url)
    # One drain per process, as on Lambda (gunicorn's processes of one thread each): where
    # several drains share a process (the local stack's default threads, Cloud Run with
    # concurrency), the crash also ends the tasks beside it, and a redelivery that keeps
    # landing beside the poison can use up its attempts too (a known limit: "Poison jobs end"
    # in docs/architecture.md).
    env = {"VISIBILITY_TIMEOUT_SECONDS": "2", "WORKERS": "6", "THREADS": "1"}
    with running_stack(embedded_db_url, extra_env=env) as stack:
        good = [stack.submit(f"good{i}", kind="noop") for i in range(50)]
        poison = stack.submit("poison", kind="crash")
        good += [stack.submit(f"good{i}", kind="noop") for i in range(50, 100)]
        sweeper_for(stack)
        state = wait_for(lambda: all_finished(embedded_db_url, 101), timeout=120, what="drain")
        job = stack.job(poison)
        assert all(stack.job(g)["status"] == "completed" for g in good)
    assert (state["completed"], state["failed"], state["max_terminal"]) == (100, 1, 1)
    assert job["status"] == "failed"
    assert "gave up after 3 attempts" in job["error"]
    assert stack.archived(job["msg_id"])


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A Postgres of this test's own, since the test restarts it."""
    folder = Path(tempfile.mkdtemp(prefix="restart-pg-"))
    pg = embedded(folder).start()
    try:
        migrate.migrate(pg.url)
        yield pg
    finally:
        pg.stop(mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgres_restart_loses_no_accepted_job(own_postgres: Any, sweeper_for: Any) -> None:
    url = own_postgres.url
    install_status_log(url)
    accepted: list[str] = []
    refused: list[dict[str, Any]] = []
    stop_submitting = threading.Event()

    with running_stack(url) as stack:
        sweeper_for(stack)

        def submit_until_stopped() -> None:
            n = 0
            while not stop_submitting.is_set() and n < 2000:
                n += 1
                status, body = stack.request(
                    "submit", "POST", "/jobs", {"task_name": f"r{n}", "kind": "noop"}
                )
                if status == 202:
                    accepted.append(body["job_id"])
                else:
                    refused.append({"status": status, **body})

        submitter = threading.Thread(target=submit_until_stopped)
        submitter.start()
        try:
            wait_for(lambda: len(accepted) >= 30, what="submissions before the restart")
            own_postgres.stop(mode="fast")
            wait_for(lambda: len(refused) >= 2, what="submissions refused during the outage")
            own_postgres.start()
            seen = len(accepted)
            wait_for(lambda: len(accepted) >= seen + 30, timeout=60, what="recovery")
        finally:
            stop_submitting.set()
            submitter.join(timeout=60)
        state = wait_for(
            lambda: all_finished(url, len(accepted)), timeout=120, what="every accepted job"
        )
    assert all(r["status"] == 503 and r["error"]["code"] == "unavailable" for r in refused)
    assert state["completed"] == len(accepted) == state["jobs"]
    assert state["max_terminal"] == 1

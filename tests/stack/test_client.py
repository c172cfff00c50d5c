"""The Python client against the real stack: submit, then follow the job live through the
Realtime gateway with the supabase package."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from client.follow import follow_job
from devstack.auth.keys import generate_jwt_secret, mint_keys
from devstack.postgres.embedded import free_port
from devstack.realtime import GatewayConfig, RunningGateway, start_in_thread
from devstack.services import ROOT
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for


def _live(db_url: str, task_max_s: float) -> Iterator[tuple[Stack, RunningGateway, str]]:
    secret = generate_jwt_secret()
    gateway = start_in_thread(GatewayConfig(database_url=db_url, jwt_secret=secret))
    try:
        with running_stack(
            db_url,
            extra_env={"TASK_MAX_SECONDS": f"{task_max_s:g}"},
            # Tokens of the gateway's Auth are ES256 (its JWKS), minted ones HS256 (the secret).
            submit_env={
                "SUPABASE_JWT_SECRET": secret,
                "SUPABASE_URL": f"http://127.0.0.1:{gateway.port}",
            },
        ) as stack:
            yield stack, gateway, mint_keys(secret).anon_key
    finally:
        gateway.stop()


@pytest.fixture
def live(embedded_db_url: str) -> Iterator[tuple[Stack, RunningGateway, str]]:
    # simulate may run for a few seconds here: long enough to see progress and cancel it.
    yield from _live(embedded_db_url, task_max_s=5)


@pytest.fixture
def live_long_tasks(embedded_db_url: str) -> Iterator[tuple[Stack, RunningGateway, str]]:
    # simulate may run a minute: a job is still running when a client started on a busy
    # machine gets to it.
    yield from _live(embedded_db_url, task_max_s=60)


def test_follow_reports_each_status_until_completed(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, gateway, anon_key = live
    changes: list[dict[str, Any]] = []
    outcome = asyncio.run(
        follow_job(
            stack.url("submit"),
            f"http://127.0.0.1:{gateway.port}",
            anon_key,
            "Followed",
            payload={"seconds": 0.3},
            on_change=changes.append,
            timeout_s=60,
        )
    )
    assert outcome.ok
    assert outcome.transitions[-1] == "completed"
    assert outcome.transitions[0] in ("pending", "running")
    assert set(outcome.transitions) <= {"pending", "running", "completed"}
    assert outcome.result is not None and outcome.result.startswith("Task 'Followed' completed")
    statuses = [c["status"] for c in changes]  # progress changes come in between
    assert [s for n, s in enumerate(statuses) if n == 0 or statuses[n - 1] != s] == (
        outcome.transitions
    )


def test_with_a_users_access_token_the_job_is_theirs_and_followed_as_them(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, gateway, anon_key = live
    supabase_url = f"http://127.0.0.1:{gateway.port}"
    signed_in = httpx.post(
        f"{supabase_url}/auth/v1/signup", json={"data": {}}, headers={"apikey": anon_key}
    )
    assert signed_in.status_code == 200, signed_in.text
    session = signed_in.json()
    outcome = asyncio.run(
        follow_job(
            stack.url("submit"),
            supabase_url,
            anon_key,
            "Mine",
            kind="noop",
            timeout_s=60,
            access_token=session["access_token"],
        )
    )
    # Followed to its end through Realtime, which shows the job to its owner only.
    assert outcome.ok and outcome.transitions[-1] == "completed"
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("select owner_id::text from job_results where task_name = 'Mine'")
        assert row.fetchall() == [(session["user"]["id"],)]
    # Not in the public list an anonymous caller reads.
    status, body = stack.request("submit", "GET", "/jobs?limit=5")
    assert status == 200 and all(j["task_name"] != "Mine" for j in body["jobs"])


def test_the_command_line_exits_1_for_a_failed_job(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, gateway, anon_key = live
    completed = subprocess.run(
        [sys.executable, "-m", "client", "Broken", "--kind", "fail", "--wait", "--timeout", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "FUNCTIONS_URL": stack.url("submit"),
            "SUPABASE_URL": f"http://127.0.0.1:{gateway.port}",
            "SUPABASE_ANON_KEY": anon_key,
        },
    )
    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].split()[1] == "failed"
    assert lines[-1].endswith("RuntimeError: this task always fails")


def test_the_command_line_exits_2_when_the_api_refuses(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, _, _ = live
    completed = subprocess.run(
        [sys.executable, "-m", "client", "   ", "--functions-url", stack.url("submit")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "task_name is required and may not be blank" in completed.stderr


def run_client(
    args: list[str], stack: Stack, supabase_url: str, anon_key: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "client", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "FUNCTIONS_URL": stack.url("submit"),
            "SUPABASE_URL": supabase_url,
            "SUPABASE_ANON_KEY": anon_key,
        },
    )


def test_waiting_prints_progress_and_a_timeout_says_it_timed_out(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, gateway, anon_key = live
    realtime = f"http://127.0.0.1:{gateway.port}"
    slow = ["Slow", "--payload", '{"seconds": 4}', "--wait", "--timeout", "2.5"]
    completed = run_client(slow, stack, realtime, anon_key)
    assert completed.returncode == 3, completed.stderr
    assert completed.stderr.startswith("timed out: ")
    assert len(completed.stderr.strip().splitlines()) == 1
    running = [line for line in completed.stdout.splitlines() if " running " in line]
    assert any(re.search(r"\d+(\.\d+)?/4 \(\d+%\)", line) for line in running), completed.stdout


def test_cancel_and_retry_commands_and_their_exit_codes(
    live_long_tasks: tuple[Stack, RunningGateway, str],
) -> None:
    stack, gateway, anon_key = live_long_tasks
    realtime = f"http://127.0.0.1:{gateway.port}"
    # A minute, so the client's own start (a Python process) cannot outlast it on a busy
    # machine; the cancel ends it early.
    job_id = stack.submit("To cancel", payload={"seconds": 60})
    wait_for(lambda: stack.job(job_id)["status"] == "running", timeout=30, what="running")
    cancelled = run_client(["cancel", job_id], stack, realtime, anon_key)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancel requested" in cancelled.stdout
    wait_for(lambda: stack.job(job_id)["status"] == "cancelled", timeout=30, what="cancelled")
    retried = run_client(["retry", job_id], stack, realtime, anon_key)
    assert retried.returncode == 0 and "run 2" in retried.stdout, retried.stderr
    # Run 2 would sleep its minute too: cancelled, so the stack stops without waiting on it.
    status, body = stack.request("submit", "POST", f"/jobs/{job_id}/cancel")
    assert status in (200, 202), body  # cancelled while pending, or asked to stop if running
    wait_for(lambda: stack.job(job_id)["status"] == "cancelled", timeout=30, what="run 2 ended")
    done = stack.submit("Done", kind="noop")
    wait_for(lambda: stack.job(done)["status"] == "completed", timeout=30, what="completed")
    refused = run_client(["cancel", done], stack, realtime, anon_key)
    assert refused.returncode == 2
    assert refused.stderr.startswith("refused: 409 wrong_job_state")
    missing = run_client(["retry", "not-a-job"], stack, realtime, anon_key)
    assert missing.returncode == 2 and "is not a job id" in missing.stderr


def test_an_owned_job_is_cancelled_only_with_its_owners_token(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, gateway, anon_key = live
    realtime = f"http://127.0.0.1:{gateway.port}"
    signed_in = httpx.post(
        f"{realtime}/auth/v1/signup", json={"data": {}}, headers={"apikey": anon_key}
    )
    assert signed_in.status_code == 200, signed_in.text
    token = ["--access-token", signed_in.json()["access_token"]]
    submitted = run_client(["Later", "--delay", "600", *token], stack, realtime, anon_key)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    anonymous = run_client(["cancel", job_id], stack, realtime, anon_key)
    assert anonymous.returncode == 2 and "404 not_found" in anonymous.stderr
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("select status from job_results where job_id = %s", (job_id,))
        assert row.fetchone() == ("scheduled",)
    owner = run_client(["cancel", job_id, *token], stack, realtime, anon_key)
    assert owner.returncode == 0 and f"{job_id} cancelled" in owner.stdout, owner.stderr


def test_realtime_unreachable_is_a_clear_error_not_a_traceback(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, _, anon_key = live
    closed = f"http://127.0.0.1:{free_port()}"
    completed = run_client(["Nowhere", "--wait"], stack, closed, anon_key, timeout=60)
    assert completed.returncode == 5, completed.stderr
    assert completed.stderr.startswith(f"unreachable: could not reach Realtime at {closed}")
    assert "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


def test_the_command_line_submits_with_flow_fields_and_lists_the_kinds(
    live: tuple[Stack, RunningGateway, str],
) -> None:
    stack, gateway, anon_key = live
    supabase_url = f"http://127.0.0.1:{gateway.port}"
    args = ["Sync", "--kind", "echo", "--dedup-key", "sync-42", "--priority", "5", "--delay", "60"]
    first = run_client(args, stack, supabase_url, anon_key)
    again = run_client(args, stack, supabase_url, anon_key)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stdout.strip() == again.stdout.strip()  # the unfinished job with the key
    job = httpx.get(f"{stack.url('submit')}/jobs/{first.stdout.strip()}", timeout=30).json()
    assert (job["priority"], job["dedup_key"]) == (5, "sync-42")
    assert job["waiting"]["reason"] == "scheduled"
    refused = run_client(["X", "--kind", "echo", "--priority", "99"], stack, supabase_url, anon_key)
    assert refused.returncode == 2 and "priority must be from 0 to 10" in refused.stderr
    listed = run_client(["kinds"], stack, supabase_url, anon_key)
    assert listed.returncode == 0
    assert re.search(r"^echo\t5 s\tno flow control$", listed.stdout, re.MULTILINE)


def test_the_command_line_manages_schedules(live: tuple[Stack, RunningGateway, str]) -> None:
    stack, gateway, anon_key = live
    supabase_url = f"http://127.0.0.1:{gateway.port}"

    def client(*args: str) -> subprocess.CompletedProcess[str]:
        return run_client(["schedules", *args], stack, supabase_url, anon_key)

    created = client("create", "nightly", "0 3 * * *", "Nightly report", "--kind", "noop")
    assert created.returncode == 0, created.stderr
    schedule_id = created.stdout.strip()
    listed = client("list")
    assert re.search(
        rf"^{schedule_id}\tnightly\t0 3 \* \* \*\tnext .*03:00:00", listed.stdout, re.MULTILINE
    ), listed.stdout
    assert client("pause", schedule_id).stdout.strip() == f"{schedule_id} paused"
    assert "\tpaused" in client("list").stdout
    assert client("resume", schedule_id).returncode == 0
    taken = client("create", "nightly", "0 3 * * *", "Again")
    assert taken.returncode == 2 and "exists already" in taken.stderr
    assert client("delete", schedule_id).returncode == 0
    assert client("list").stdout == ""
    assert client("delete", schedule_id).returncode == 2

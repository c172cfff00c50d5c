"""The Python client against the real stack: submit, then follow the job live through the
Realtime gateway with the supabase package."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from client.follow import follow_job
from devstack.keys import generate_jwt_secret, mint_keys
from devstack.realtime import GatewayConfig, RunningGateway, start_in_thread
from devstack.services import ROOT
from tests.stack import Stack, running_stack


@pytest.fixture
def live(embedded_db_url: str) -> Iterator[tuple[Stack, RunningGateway, str]]:
    secret = generate_jwt_secret()
    gateway = start_in_thread(GatewayConfig(database_url=embedded_db_url, jwt_secret=secret))
    try:
        with running_stack(embedded_db_url, submit_env={"SUPABASE_JWT_SECRET": secret}) as stack:
            yield stack, gateway, mint_keys(secret).anon_key
    finally:
        gateway.stop()


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
    assert [c["status"] for c in changes] == outcome.transitions


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

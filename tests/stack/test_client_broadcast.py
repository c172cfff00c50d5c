"""``supajobs --wait`` over Broadcast (issue 21): the job's events arrive each once and in order
although the socket is cut mid-job, and although the Realtime gateway restarts mid-job; the
received sequence is compared with job_events."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from client.follow import follow_job
from devstack.auth.keys import generate_jwt_secret, mint_keys
from devstack.realtime import GatewayConfig, RunningGateway, start_in_thread
from tests.cut_proxy import cut_proxy
from tests.local_stack import Stack, running_stack

Live = tuple[Stack, list[RunningGateway], str, str]


@pytest.fixture
def live(embedded_db_url: str) -> Iterator[Live]:
    secret = generate_jwt_secret()
    gateways = [start_in_thread(GatewayConfig(database_url=embedded_db_url, jwt_secret=secret))]
    try:
        with running_stack(
            embedded_db_url,
            extra_env={"TASK_MAX_SECONDS": "5"},
            submit_env={
                "SUPABASE_JWT_SECRET": secret,
                "SUPABASE_URL": f"http://127.0.0.1:{gateways[0].port}",
            },
        ) as stack:
            yield stack, gateways, mint_keys(secret).anon_key, secret
    finally:
        for gateway in gateways:
            gateway.stop()


def job_events(database_url: str, job_id: str) -> list[tuple[int, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select event_id, event from job_events where job_id = %s order by event_id", (job_id,)
        ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def test_a_cut_socket_is_rejoined_with_replay_without_loss_or_duplicates(live: Live) -> None:
    stack, gateways, anon_key, _ = live
    with cut_proxy(gateways[0].port) as proxy:
        changes: list[dict[str, Any]] = []

        def on_change(row: dict[str, Any]) -> None:
            changes.append(row)
            if row.get("status") == "running" and proxy.cuts == 0:
                proxy.cut()  # mid-job: the job goes on while the client is away

        outcome = asyncio.run(
            follow_job(
                stack.url("submit"),
                f"http://127.0.0.1:{proxy.port}",
                anon_key,
                "Cut",
                payload={"seconds": 1.5},
                on_change=on_change,
                timeout_s=60,
            )
        )
        assert proxy.cuts == 1 and outcome.rejoins >= 1
    assert outcome.ok and outcome.transitions[-1] == "completed"
    got = [(int(e["event_id"]), str(e["event"])) for e in outcome.events]
    assert got == job_events(stack.database_url, outcome.job_id)
    assert [e for _, e in got][:1] == ["submitted"] and got[-1][1] == "completed"


def test_a_restarted_gateway_is_rejoined_without_loss_or_duplicates(live: Live) -> None:
    stack, gateways, anon_key, secret = live
    port = gateways[0].port
    restarted = threading.Event()

    def restart() -> None:
        gateways[0].stop()
        config = GatewayConfig(database_url=stack.database_url, jwt_secret=secret, port=port)
        gateways.append(start_in_thread(config))
        restarted.set()

    def on_change(row: dict[str, Any]) -> None:
        if row.get("status") == "running" and len(gateways) == 1 and not restarted.is_set():
            threading.Thread(target=restart, daemon=True).start()

    outcome = asyncio.run(
        follow_job(
            stack.url("submit"),
            f"http://127.0.0.1:{port}",
            anon_key,
            "Restart",
            payload={"seconds": 2},
            on_change=on_change,
            timeout_s=60,
        )
    )
    assert restarted.is_set() and outcome.rejoins >= 1
    assert outcome.ok
    got = [(int(e["event_id"]), str(e["event"])) for e in outcome.events]
    assert got == job_events(stack.database_url, outcome.job_id)

"""A wake-up is honoured once (issue 17): one signed wake-up the database queued for pg_net,
captured from ``net.http_request_queue`` and delivered to the real webhook, then replayed 20 times
inside its tolerance window, starts no further process_job run. The runs are counted by a proxy
in front of the real process_job (tests/counting_proxy.py). After the replays a fresh wake-up
(its own webhook-id, signed with the same secret) goes through: once it has reached process_job,
every replay the webhook handed on has reached it too (the invoker's pool starts calls in order),
so the count is final."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psycopg

from devstack.services import function_process
from functions.core.signatures import parse_secrets, sign
from tests.counting_proxy import Call, CountingProxy, counting_proxy
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for

REPLAYS = 20


def _captured_wake_up(url: str) -> tuple[dict[str, str], bytes, str]:
    """(headers, body, job id) of the wake-up the queue trigger queued for one new job."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select submit_job('replayed', '{}', kind => 'noop')").fetchone()
        queued = conn.execute("select headers, body from net.http_request_queue").fetchall()
    assert row is not None
    assert len(queued) == 1, f"expected one queued wake-up, found {len(queued)}"
    headers, body = queued[0]
    return dict(headers), bytes(body), str(row[0])


def _fresh_wake_up(stack: Stack, body: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    webhook_id = str(body["wake_id"])
    timestamp = int(time.time())
    signature = sign(parse_secrets(stack.secret), webhook_id, timestamp, raw)
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }, raw


def _start_webhook_through(stack: Stack, proxy: CountingProxy) -> None:
    env = {**stack.env_for("webhook"), "PROCESS_JOB_URL": proxy.url}
    stack.processes["webhook"] = function_process("webhook", stack.ports["webhook"], env).start()


def _carries(call: Call, wake_id: str) -> bool:
    try:
        return bool(json.loads(call.body).get("wake_id") == wake_id)
    except ValueError:
        return False


def test_a_replayed_signed_wake_up_starts_no_further_run(embedded_db_url: str) -> None:
    url = embedded_db_url
    with (
        running_stack(url, functions=("process_job",), relay=False) as stack,
        counting_proxy(stack.url("process_job")) as proxy,
    ):
        _start_webhook_through(stack, proxy)
        headers, body, job_id = _captured_wake_up(url)

        first, _ = stack.request("webhook", "POST", "/", headers=headers, raw=body)
        assert first == 202
        stack.wait_for_status(job_id, "completed")
        wait_for(lambda: len(proxy.answered()) == 1, what="the first run to end")

        replays = [
            stack.request("webhook", "POST", "/", headers=headers, raw=body)[0]
            for _ in range(REPLAYS)
        ]
        replayed = json.loads(body)["wake_id"]
        sentinel = {"wake_id": "wake_" + uuid.uuid4().hex}
        fresh_headers, fresh_body = _fresh_wake_up(stack, sentinel)
        status, _ = stack.request("webhook", "POST", "/", headers=fresh_headers, raw=fresh_body)
        assert status == 202, "a fresh signed wake-up must still be honoured"
        wait_for(
            lambda: any(_carries(c, sentinel["wake_id"]) for c in proxy.answered()),
            timeout=60,
            what="the fresh wake-up's run to end",
        )
        wait_for(
            lambda: len(proxy.answered()) == len(proxy.snapshot()),
            timeout=60,
            what="every run under way to end",
        )
        runs = proxy.snapshot()
    replayed_runs = [c for c in runs if _carries(c, replayed)]
    assert all(s < 500 for s in replays), f"replays answered {replays}"
    assert len(replayed_runs) == 1, (
        f"{REPLAYS} replays of one signed wake-up started {len(replayed_runs) - 1} further"
        f" process_job runs (webhook answered {sorted(set(replays))})"
    )

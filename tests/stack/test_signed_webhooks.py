"""Signed wake-ups end to end on a real Postgres: the trigger signs with extensions.hmac exactly
the bytes pg_net (here the relay) sends, and what anyone reading pg_net's queue learns cannot be
turned into a call with another body, another key, or outside the tolerance window."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook

from devstack.config import generate_webhook_secret
from devstack.postgres.embedded import free_port
from devstack.postgres.migrate import configure_webhook
from devstack.services import function_process
from functions.core.signatures import SignatureError, parse_secret, sign, verify
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for

QUEUED = "select id, headers, convert_from(body, 'UTF8') from net.http_request_queue order by id"


@pytest.mark.parametrize("key_bytes", [0, 1, 24, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("data_bytes", [0, 55, 64, 1000])
def test_extensions_hmac_is_hmac_sha256(
    db: psycopg.Connection, key_bytes: int, data_bytes: int
) -> None:
    """pgcrypto where the server has it, the migration runner's stand-in where it does not."""
    key, data = os.urandom(key_bytes), os.urandom(data_bytes)
    row = db.execute("select extensions.hmac(%s, %s, 'sha256')", (data, key)).fetchone()
    assert row is not None
    assert bytes(row[0]) == hmac.new(key, data, hashlib.sha256).digest()


def queue_one(db: psycopg.Connection, secret: str, task: str = "signed") -> tuple[Any, ...]:
    configure_webhook(db, "http://127.0.0.1:9/hook", secret)
    db.execute("select submit_job(%s)", (task,))
    rows = db.execute(QUEUED).fetchall()
    assert len(rows) == 1
    return tuple(rows[0])


def test_the_trigger_signs_the_body_pg_net_will_send(db: psycopg.Connection) -> None:
    secret = generate_webhook_secret()
    _, headers, body = queue_one(db, secret, "Rapport trimestriel – été")
    wake = db.execute("select wake_id from private.wake_ups").fetchone()
    assert wake is not None
    assert headers["webhook-id"] == wake[0]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert "Authorization" not in headers
    verify(
        [parse_secret(secret)],
        headers["webhook-id"],
        headers["webhook-timestamp"],
        headers["webhook-signature"],
        body.encode("utf-8"),
        now=time.time(),
    )
    # The reference implementation agrees.
    assert Webhook(secret).verify(body, headers) == {"wake_id": wake[0]}


def test_during_a_rotation_the_trigger_signs_with_every_secret(db: psycopg.Connection) -> None:
    old, new = generate_webhook_secret(), generate_webhook_secret()
    _, headers, body = queue_one(db, f"{old} {new}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        verify(
            [parse_secret(secret)],
            headers["webhook-id"],
            headers["webhook-timestamp"],
            headers["webhook-signature"],
            body.encode(),
            now=time.time(),
        )


@pytest.mark.parametrize("secret", ["", "a-bearer-secret", "whsec_dG9vIHNob3J0"])
def test_without_a_usable_secret_nothing_goes_out_unsigned_and_the_job_waits(
    db: psycopg.Connection, secret: str
) -> None:
    configure_webhook(db, "http://127.0.0.1:9/hook", secret)
    db.execute("select submit_job('quiet')")
    assert db.execute("select count(*) from net.http_request_queue").fetchone() == (0,)
    assert db.execute("select count(*) from pgmq.q_work_queue").fetchone() == (1,)


# -- through real HTTP ------------------------------------------------------------------------


def call(port: int, body: bytes, headers: dict[str, str]) -> int:
    """POST to the webhook on ``port``; the HTTP status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_job_goes_through_the_relay_to_the_webhook_signed_and_completes(db_url: str) -> None:
    with running_stack(db_url) as stack:
        job_id = stack.submit("signed end to end", kind="noop")
        stack.wait_for_status(job_id, "completed")
        with psycopg.connect(db_url) as conn:
            statuses = [r[0] for r in conn.execute("select status_code from net._http_response")]
    assert statuses == [202]


@pytest.fixture
def leaked(db_url: str) -> Iterator[tuple[Stack, dict[str, str], bytes, str]]:
    """A stack whose wake-up waits in pg_net's queue (no relay), and that queued request as the
    anon role reads it (upstream pg_net grants its tables to PUBLIC; granted here explicitly)."""
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute("grant usage on schema net to anon")
        admin.execute("grant select on net.http_request_queue to anon")
    with running_stack(db_url, relay=False) as stack:
        job_id = stack.submit("leaky", kind="noop")
        with psycopg.connect(db_url, autocommit=True) as anon:
            anon.execute("set role anon")
            rows = anon.execute(QUEUED).fetchall()
        assert len(rows) == 1
        _, headers, body = rows[0]
        assert json.loads(body)["wake_id"] == headers["webhook-id"]
        yield stack, {"Content-Type": "application/json", **headers}, body.encode(), job_id


def test_what_anon_reads_is_no_bearer_secret_and_forges_nothing(
    leaked: tuple[Stack, dict[str, str], bytes, str],
) -> None:
    stack, headers, body, _ = leaked
    port = stack.ports["webhook"]
    assert stack.secret not in json.dumps(headers)
    other_wake = {"wake_id": "wake_" + "0" * 32}
    assert call(port, json.dumps(other_wake).encode(), headers) == 401
    assert call(port, body + b" ", headers) == 401
    assert call(port, body, {**headers, "webhook-id": "msg_999999"}) == 401
    now = int(time.time())
    assert call(port, body, {**headers, "webhook-timestamp": str(now + 400)}) == 401
    # Anyone may sign, but not with the database's key.
    wrong = generate_webhook_secret()
    forged = {**headers, "webhook-signature": sign([parse_secret(wrong)], "msg_1", now, body)}
    forged |= {"webhook-id": "msg_1", "webhook-timestamp": str(now)}
    assert call(port, body, forged) == 401


def test_a_replay_inside_the_window_is_accepted_and_only_wakes_the_same_job(
    leaked: tuple[Stack, dict[str, str], bytes, str],
) -> None:
    stack, headers, body, job_id = leaked
    for _ in range(3):
        assert call(stack.ports["webhook"], body, headers) == 202
    job = stack.wait_for_status(job_id, "completed")
    # Idempotent: three wake-ups, one run, one result.
    assert job["attempts"] == 1


def test_a_replay_outside_the_window_is_rejected(
    leaked: tuple[Stack, dict[str, str], bytes, str],
) -> None:
    stack, headers, body, _ = leaked
    strict = function_process(
        "webhook",
        free_port(),
        {**stack.env_for("webhook"), "WEBHOOK_TOLERANCE_SECONDS": "1"},
    ).start()
    try:
        rejected = wait_for(
            lambda: call(strict.port or 0, body, headers) == 401,
            timeout=10,
            interval=0.25,
            what="the leaked request to fall outside a 1-second window",
        )
    finally:
        strict.stop()
    assert rejected
    # Only the window changed: the stack's webhook (5 minutes) still takes the same bytes.
    assert call(stack.ports["webhook"], body, headers) == 202
    with pytest.raises(SignatureError, match="tolerance"):
        verify(
            [parse_secret(stack.secret)],
            headers["webhook-id"],
            headers["webhook-timestamp"],
            headers["webhook-signature"],
            body,
            now=time.time(),
            tolerance_s=1,
        )

"""submit_job in the database: validation, atomicity, idempotency."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb


def counts(db: psycopg.Connection) -> tuple[int, int]:
    jobs = db.execute("select count(*) from job_results").fetchone()
    messages = db.execute("select count(*) from pgmq.q_work_queue").fetchone()
    assert jobs is not None and messages is not None
    return jobs[0], messages[0]


BAD_ARGUMENTS: list[tuple[Any, Any, str]] = [
    (None, {}, "required"),
    ("", {}, "blank"),
    ("   ", {}, "blank"),
    ("x" * 201, {}, "limit is 200"),
    ("tab\there", {}, "control characters"),
    ("bell\x07", {}, "control characters"),
    ("ok", [1, 2], "JSON object"),
    ("ok", "text", "JSON object"),
    ("ok", 42, "JSON object"),
    ("ok", {"blob": "y" * 70_000}, "limit is 65535"),
]


@pytest.mark.parametrize(("task_name", "payload", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_22023_and_leave_nothing(
    db: psycopg.Connection, task_name: Any, payload: Any, message: str
) -> None:
    with pytest.raises(psycopg.Error) as caught:
        db.execute("select submit_job(%s, %s)", (task_name, Jsonb(payload)))
    assert caught.value.sqlstate == "22023"
    assert message in str(caught.value)
    assert counts(db) == (0, 0)


def test_a_job_is_a_row_and_a_message(db: psycopg.Connection) -> None:
    row = db.execute("select submit_job('  Report  ', %s)", (Jsonb({"n": 1}),)).fetchone()
    assert row is not None
    job_id = row[0]
    job = db.execute(
        "select task_name, payload, status, attempts, msg_id from job_results where job_id = %s",
        (job_id,),
    ).fetchone()
    assert job is not None
    assert job[:4] == ("Report", {"n": 1}, "pending", 0)
    message = db.execute(
        "select message from pgmq.q_work_queue where msg_id = %s", (job[4],)
    ).fetchone()
    assert message == ({"job_id": str(job_id), "task_name": "Report"},)


def test_default_payload_is_empty_object(db: psycopg.Connection) -> None:
    db.execute("select submit_job('plain')")
    assert db.execute("select payload from job_results").fetchone() == ({},)


def test_idempotency_key_returns_the_first_job(db: psycopg.Connection) -> None:
    first = db.execute("select submit_job('a', '{}', 'key-1')").fetchone()
    again = db.execute("select submit_job('a', '{}', 'key-1')").fetchone()
    other = db.execute("select submit_job('a', '{}', 'key-2')").fetchone()
    assert first == again != other
    assert counts(db) == (2, 2)


def test_rollback_of_the_caller_leaves_no_row_and_no_message(db: psycopg.Connection) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("select submit_job('doomed')")
        raise RuntimeError("caller fails after submitting")
    assert counts(db) == (0, 0)


def test_the_trigger_without_webhook_config_still_enqueues(db: psycopg.Connection) -> None:
    db.execute("select submit_job('quiet')")
    assert counts(db) == (1, 1)
    requests = db.execute("select count(*) from net.http_request_queue").fetchone()
    assert requests == (0,)


def test_the_trigger_queues_an_authenticated_webhook_call(db: psycopg.Connection) -> None:
    db.execute(
        "insert into private.settings values ('job_webhook_url', 'http://127.0.0.1:9/hook'),"
        " ('job_webhook_secret', 'whsec_c2Vrcml0LXNla3JpdC1zZWtyaXQtc2Vrcml0')"
    )
    row = db.execute("select submit_job('loud')").fetchone()
    assert row is not None
    request = db.execute(
        "select method, url, headers, convert_from(body, 'UTF8')::jsonb from net.http_request_queue"
    ).fetchone()
    msg = db.execute("select msg_id from pgmq.q_work_queue").fetchone()
    assert request is not None and msg is not None
    method, url, headers, body = request
    assert (method, url) == ("POST", "http://127.0.0.1:9/hook")
    assert "Authorization" not in headers
    assert headers["webhook-id"] == f"msg_{msg[0]}"
    assert headers["webhook-signature"].startswith("v1,")  # checked in test_signed_webhooks
    assert body == {"msg_id": msg[0], "job_id": str(row[0]), "task_name": "loud"}

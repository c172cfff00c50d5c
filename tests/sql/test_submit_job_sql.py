"""submit_job in the database: validation, atomicity, idempotency."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from functions.core import validation


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
    ("ok", {"deep": json.loads("[" * 65 + "]" * 65)}, "deeper than 64 levels"),  # level 65
]


def test_the_deepest_payload_the_functions_accept_is_stored(db: psycopg.Connection) -> None:
    deepest = {"deep": json.loads("[" * 63 + "1" + "]" * 63)}  # the 1 sits at level 64
    assert validation.validate_payload(deepest) == deepest
    db.execute("select submit_job('deep', %s)", (Jsonb(deepest),))
    assert counts(db) == (1, 1)


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
    assert message == ({"job_id": str(job_id)},)  # the row says everything else


def test_default_payload_is_empty_object(db: psycopg.Connection) -> None:
    db.execute("select submit_job('plain')")
    assert db.execute("select payload from job_results").fetchone() == ({},)


def submit(db: psycopg.Connection, name: str, payload: Any, key: str | None) -> Any:
    row = db.execute("select submit_job(%s, %s, %s)", (name, Jsonb(payload), key)).fetchone()
    assert row is not None
    return row[0]


def test_idempotency_key_returns_the_first_job(db: psycopg.Connection) -> None:
    first = submit(db, "a", {"x": 1, "y": [2]}, "key-1")
    # The same request written differently (padding, key order) is the same request.
    again = submit(db, "  a ", {"y": [2], "x": 1}, "key-1")
    other = submit(db, "a", {"x": 1, "y": [2]}, "key-2")
    assert first == again != other
    assert counts(db) == (2, 2)


@pytest.mark.parametrize(
    ("name", "payload"), [("b", {"x": 1}), ("a", {"x": 2}), ("a", {"x": 1, "more": True})]
)
def test_a_key_reused_with_a_different_request_raises_sj422_and_stores_nothing(
    db: psycopg.Connection, name: str, payload: Any
) -> None:
    first = submit(db, "a", {"x": 1}, "key-1")
    with pytest.raises(psycopg.Error) as caught:
        submit(db, name, payload, "key-1")
    assert caught.value.sqlstate == "SJ422"
    assert "different request" in str(caught.value)
    assert counts(db) == (1, 1)
    assert submit(db, "a", {"x": 1}, "key-1") == first


def test_a_key_whose_first_request_is_in_flight_raises_sj409_at_once(
    db: psycopg.Connection, db_url: str
) -> None:
    with psycopg.connect(db_url) as first:
        submit(first, "a", {}, "busy-key")  # its transaction stays open
        with pytest.raises(psycopg.Error) as caught:
            submit(db, "a", {}, "busy-key")
        assert caught.value.sqlstate == "SJ409"
        assert counts(db) == (0, 0)  # the first is not committed yet
        first.commit()
    assert counts(db) == (1, 1)
    replay = submit(db, "a", {}, "busy-key")
    assert db.execute("select job_id from job_results").fetchone() == (replay,)


def test_expired_keys_are_forgotten_and_cleaned_up_by_later_submissions(
    db: psycopg.Connection,
) -> None:
    old = submit(db, "a", {}, "old-key")
    for n in range(3):
        submit(db, "filler", {}, f"filler-{n}")
    db.execute("update private.idempotency_keys set expires_at = now() - interval '1 second'")
    # An expired key is free again: a different request makes a new job instead of 422.
    new = submit(db, "other", {"n": 1}, "old-key")
    assert new != old
    keys = db.execute("select key, job_id from private.idempotency_keys").fetchall()
    assert keys == [("old-key", new)]  # the expired fillers went with it
    assert counts(db) == (5, 5)  # jobs outlive their keys


def test_keys_live_a_day(db: psycopg.Connection) -> None:
    submit(db, "a", {}, "k")
    row = db.execute(
        "select expires_at - created_at, fingerprint is not null from private.idempotency_keys"
    ).fetchone()
    assert row is not None
    assert row[0].total_seconds() == 24 * 3600 and row[1]


def test_the_key_table_is_closed_to_clients(db: psycopg.Connection) -> None:
    for role in ("anon", "authenticated"):
        row = db.execute(
            "select has_table_privilege(%s, 'private.idempotency_keys', 'select')", (role,)
        ).fetchone()
        assert row == (False,)


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
    wake = db.execute("select wake_id, taken_at from private.wake_ups").fetchone()
    assert request is not None and wake is not None
    method, url, headers, body = request
    assert (method, url) == ("POST", "http://127.0.0.1:9/hook")
    assert "Authorization" not in headers
    assert headers["webhook-id"] == wake[0] and wake[1] is None  # sent, not yet taken
    assert headers["webhook-signature"].startswith("v1,")  # checked in test_signed_webhooks
    assert body == {"wake_id": wake[0]}  # the ids a worker needs, nothing it would ignore


# --- submit_jobs: a batch in one transaction ----------------------------------------------


def submit_many(db: psycopg.Connection, items: Any, key: str | None = None) -> list[uuid.UUID]:
    row = db.execute("select submit_jobs(%s, %s)", (Jsonb(items), key)).fetchone()
    assert row is not None
    return list(row[0])


def test_a_batch_lines_each_job_up_with_its_own_message(db: psycopg.Connection) -> None:
    items = [{"task_name": f" t{i} ", "payload": {"i": i}} for i in range(50)]
    job_ids = submit_many(db, items)
    rows = db.execute(
        "select j.job_id, j.task_name, j.payload, q.message from job_results j"
        " join pgmq.q_work_queue q using (msg_id)"
    ).fetchall()
    by_id = {job_id: (name, payload, message) for job_id, name, payload, message in rows}
    assert len(by_id) == 50
    for i, job_id in enumerate(job_ids):
        name, payload, message = by_id[job_id]
        assert (name, payload) == (f"t{i}", {"i": i})
        assert message == {"job_id": str(job_id)}


BAD_BATCHES: list[tuple[Any, str]] = [
    ({"task_name": "a"}, "JSON array"),
    ([], "empty"),
    ([{"task_name": "a"}] * 1001, "limit is 1000"),
    ([{"task_name": "a"}, 7], "items[1] must be a JSON object"),
    ([{"task_name": "a"}, {"task_name": "b", "run_at": "x"}], "items[1] has unknown field"),
    ([{"task_name": "a"}, {"task_name": "b", "kind": "nope"}], "items[1].kind 'nope' is not a"),
    ([{"task_name": "a"}, {"task_name": "b", "kind": 3}], "items[1].kind must be a string"),
    ([{"task_name": "a"}, {"task_name": 5}], "items[1].task_name is required"),
    (
        [{"task_name": "a"}, {"task_name": " "}],
        "items[1].task_name is required and may not be blank",
    ),
    ([{"task_name": "a"}, {"task_name": "x" * 201}], "items[1].task_name is 201 characters"),
    ([{"task_name": "a"}, {"task_name": "a\tb"}], "items[1].task_name may not contain control"),
    ([{"task_name": "a"}, {"task_name": "b", "payload": [1]}], "items[1].payload must be"),
    (
        [{"task_name": "a"}, {"task_name": "b", "payload": {"s": "y" * 70_000}}],
        "items[1].payload is",
    ),
    (
        [
            {"task_name": "a"},
            {"task_name": "b", "payload": json.loads('{"d":' * 65 + "1" + "}" * 65)},
        ],
        "items[1].payload nests deeper",
    ),
]


@pytest.mark.parametrize(("items", "message"), BAD_BATCHES)
def test_a_bad_batch_raises_22023_naming_the_item_and_stores_nothing(
    db: psycopg.Connection, items: Any, message: str
) -> None:
    with pytest.raises(psycopg.Error) as caught:
        submit_many(db, items)
    assert caught.value.sqlstate == "22023"
    assert message in str(caught.value)
    assert counts(db) == (0, 0)


def test_a_batch_key_replays_and_refuses_another_request(db: psycopg.Connection) -> None:
    items = [{"task_name": "a", "payload": {"x": 1}}, {"task_name": "b"}]
    first = submit_many(db, items, "batch-key")
    assert (
        submit_many(
            db,
            [{"task_name": " a ", "payload": {"x": 1}}, {"task_name": "b", "payload": {}}],
            "batch-key",
        )
        == first
    )
    with pytest.raises(psycopg.Error) as caught:
        submit_many(db, items[:1], "batch-key")
    assert caught.value.sqlstate == "SJ422"
    with pytest.raises(psycopg.Error) as caught:
        db.execute("select submit_job('a', '{\"x\": 1}', 'batch-key')")
    assert caught.value.sqlstate == "SJ422"
    assert counts(db) == (2, 2)


def test_a_batch_is_queued_by_one_transaction_with_at_most_one_call_a_message(
    db: psycopg.Connection,
) -> None:
    """With a per-message trigger each message gets its own call; a coalescing one sends
    fewer. Either way the batch is one transaction, so the calls go out after its commit."""
    db.execute(
        "insert into private.settings values ('job_webhook_url', 'http://127.0.0.1:9/hook'),"
        " ('job_webhook_secret', 'whsec_c2Vrcml0LXNla3JpdC1zZWtyaXQtc2Vrcml0')"
    )
    submit_many(db, [{"task_name": f"t{i}"} for i in range(5)])
    row = db.execute("select count(distinct xmin::text) from pgmq.q_work_queue").fetchone()
    assert row == (1,)
    calls = db.execute("select count(*) from net.http_request_queue").fetchone()
    assert calls is not None and 1 <= calls[0] <= 5


def test_submit_jobs_is_for_the_service_role_only(db: psycopg.Connection) -> None:
    for role, allowed in (("anon", False), ("authenticated", False), ("service_role", True)):
        row = db.execute(
            "select has_function_privilege(%s, 'public.submit_jobs(jsonb, text)', 'execute')",
            (role,),
        ).fetchone()
        assert row == (allowed,)

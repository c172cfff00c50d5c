"""Job changes go out over private Realtime Broadcast from the database (issue 21): sent with
realtime.send in the transaction that makes them, and readable only as the policies on
realtime.messages allow. Authorisation is asked the way Supabase Realtime asks it (a probe row of
the topic, selected under the subscriber's role and claims; a send is an insert), on a plain
Postgres and on the hosted-like cluster migrated as the non-superuser postgres."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

USER_A = str(uuid.uuid4())
USER_B = str(uuid.uuid4())


def configured(url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "insert into private.settings (name, value) values"
            " ('job_webhook_url', 'http://127.0.0.1:9/webhook'),"
            " ('job_webhook_secret', 'whsec_cmxzLXRlc3QtcXVldWVkLWNhbGwtc2VjcmV0LTMy')"
        )
        yield c


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    yield from configured(db_url)


def submit(conn: psycopg.Connection, name: str, owner: str | None = None) -> str:
    with conn.transaction():
        if owner is not None:
            claims = json.dumps({"sub": owner, "role": "authenticated"})
            conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        row = conn.execute("select submit_job(%s)", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def messages(conn: psycopg.Connection, topic: str) -> list[tuple[str, dict[str, Any], bool]]:
    rows = conn.execute(
        "select event, payload, private from realtime.messages"
        " where topic = %s and extension = 'broadcast'"
        " order by inserted_at, payload->'event'->'event_id'",
        (topic,),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def claims_for(role: str, sub: str | None) -> str:
    claims: dict[str, Any] = {"role": role, "exp": 4102444800}
    if sub is not None:
        claims["sub"] = sub
    return json.dumps(claims)


def become(conn: psycopg.Connection, role: str, sub: str | None, topic: str) -> None:
    """As Realtime's authorisation check does, for the rest of the transaction."""
    conn.execute(
        "select set_config('role', %s, true), set_config('realtime.topic', %s, true),"
        " set_config('request.jwt.claims', %s, true),"
        " set_config('request.jwt.claim.sub', coalesce(%s, ''), true)",
        (role, topic, claims_for(role, sub), sub),
    )


def can_read(conn: psycopg.Connection, role: str, sub: str | None, topic: str) -> bool:
    """Would Realtime let this subscriber join ``topic`` as a private channel?"""
    probe = uuid.uuid4()
    try:
        with conn.transaction():
            conn.execute(
                "insert into realtime.messages (id, topic, extension, private)"
                " values (%s, %s, 'broadcast', true)",
                (probe, topic),
            )
            become(conn, role, sub, topic)
            seen = conn.execute(
                "select count(*) from realtime.messages where id = %s", (probe,)
            ).fetchone()
            raise _Rollback(bool(seen and seen[0]))
    except _Rollback as answer:
        return answer.value


def can_send(conn: psycopg.Connection, role: str, sub: str | None, topic: str) -> bool:
    try:
        with conn.transaction():
            become(conn, role, sub, topic)
            conn.execute(
                "insert into realtime.messages (topic, extension, payload, event, private)"
                " values (%s, 'broadcast', '{}', 'job', true)",
                (topic,),
            )
            raise _Rollback(True)
    except _Rollback as answer:
        return answer.value
    except psycopg.errors.InsufficientPrivilege:
        return False


class _Rollback(Exception):
    def __init__(self, value: bool) -> None:
        super().__init__()
        self.value = value


def test_a_submit_is_sent_to_the_public_topic(conn: psycopg.Connection) -> None:
    job_id = submit(conn, "demo")
    # Nobody follows a job before it exists: the submit goes to its owner's topic only.
    assert messages(conn, f"jobs:job:{job_id}") == []
    for topic in ("jobs:public",):
        [(event, payload, private)] = messages(conn, topic)
        assert (event, private) == ("job", True)
        assert payload["job"]["job_id"] == job_id
        assert payload["job"]["status"] == "pending"
        assert payload["event"]["event"] == "submitted"
        event_id = conn.execute(
            "select event_id from job_events where job_id = %s", (job_id,)
        ).fetchone()
        assert event_id is not None and payload["event"]["event_id"] == event_id[0]
        # Public fields only: not the job's input, its queue message or its lease.
        assert not {"payload", "msg_id", "claimed_by", "idempotency_key"} & set(payload["job"])
        assert "id" in payload  # as realtime.send adds it
    assert messages(conn, f"jobs:user:{USER_A}") == []


def test_a_rolled_back_change_sends_nothing(conn: psycopg.Connection) -> None:
    with pytest.raises(_Rollback), conn.transaction():
        conn.execute("select submit_job('never')")
        raise _Rollback(True)
    assert conn.execute("select count(*) from realtime.messages").fetchone() == (0,)


def test_owned_jobs_go_to_their_owners_topic(conn: psycopg.Connection) -> None:
    job_id = submit(conn, "mine", owner=USER_A)
    [(_, payload, _)] = messages(conn, f"jobs:user:{USER_A}")
    assert payload["job"]["job_id"] == job_id and payload["job"]["owner_id"] == USER_A
    assert messages(conn, "jobs:public") == []
    assert messages(conn, f"jobs:job:{job_id}") == []
    conn.execute(
        "update job_results set status = 'running', attempts = 1 where job_id = %s", (job_id,)
    )
    assert len(messages(conn, f"jobs:user:{USER_A}")) == 2
    [(_, started, _)] = messages(conn, f"jobs:job:{job_id}")
    assert started["event"]["event"] == "started"


def test_every_transition_and_progress_report_is_sent_in_order(conn: psycopg.Connection) -> None:
    job_id = submit(conn, "steps")
    conn.execute(
        "update job_results set status = 'running', attempts = 1 where job_id = %s", (job_id,)
    )
    conn.execute(
        "update job_results set progress = 1, progress_total = 4 where job_id = %s", (job_id,)
    )
    conn.execute("update job_results set msg_id = 42 where job_id = %s", (job_id,))  # not news
    conn.execute(
        "update job_results set status = 'completed', result = 'ok' where job_id = %s", (job_id,)
    )
    sent = messages(conn, "jobs:public")
    kinds = [p["event"]["event"] if p["event"] else "progress" for _, p, _ in sent]
    assert kinds == ["submitted", "started", "progress", "completed"]

    def without_id(payload: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in payload.items() if k != "id"}

    on_job_topic = [without_id(p) for _, p, _ in messages(conn, f"jobs:job:{job_id}")]
    assert on_job_topic == [without_id(p) for _, p, _ in sent[1:]]
    events = conn.execute(
        "select event_id, event from job_events where job_id = %s order by event_id", (job_id,)
    ).fetchall()
    assert [(p["event"]["event_id"], p["event"]["event"]) for _, p, _ in sent if p["event"]] == [
        tuple(e) for e in events
    ]
    assert sent[2][1]["job"]["progress"] == 1 and sent[-1][1]["job"]["result"] == "ok"


def test_who_may_join_which_topic(conn: psycopg.Connection) -> None:
    public_job = submit(conn, "demo")
    a_job = submit(conn, "a's", owner=USER_A)
    allowed = {
        ("anon", None, "jobs:public"): True,
        ("anon", None, f"jobs:job:{public_job}"): True,
        ("anon", None, f"jobs:job:{a_job}"): False,
        ("anon", None, f"jobs:user:{USER_A}"): False,
        ("authenticated", USER_A, f"jobs:user:{USER_A}"): True,
        ("authenticated", USER_A, f"jobs:job:{a_job}"): True,
        ("authenticated", USER_A, "jobs:public"): True,
        ("authenticated", USER_B, f"jobs:user:{USER_A}"): False,
        ("authenticated", USER_B, f"jobs:job:{a_job}"): False,
        ("authenticated", USER_B, f"jobs:user:{USER_B}"): True,
        # Forged names: other shapes, a bad uuid, a job that does not exist, case games.
        ("authenticated", USER_B, f"jobs:job:{a_job}x"): False,
        ("authenticated", USER_B, "jobs:job:not-a-uuid"): False,
        ("authenticated", USER_B, f"jobs:job:{uuid.uuid4()}"): False,
        ("authenticated", USER_B, f"jobs:user:{USER_A.upper()}"): False,
        ("authenticated", USER_B, "jobs:user:"): False,
        ("anon", None, "jobs:user:"): False,
        ("anon", None, "jobs:public:x"): False,
        ("anon", None, "jobs:*"): False,
    }
    found = {key: can_read(conn, *key) for key in allowed}
    assert found == allowed


@pytest.mark.parametrize("role, sub", [("anon", None), ("authenticated", USER_A)])
def test_no_client_sends_on_a_job_topic(
    conn: psycopg.Connection, role: str, sub: str | None
) -> None:
    for topic in ("jobs:public", f"jobs:user:{USER_A}", f"jobs:job:{uuid.uuid4()}"):
        assert not can_send(conn, role, sub, topic), topic
    assert conn.execute("select count(*) from realtime.messages").fetchone() == (0,)


def test_realtime_is_owned_as_on_hosted(conn: psycopg.Connection) -> None:
    owners = conn.execute(
        "select c.relname::text, pg_get_userbyid(c.relowner)::text, c.relrowsecurity"
        " from pg_class c where c.oid = 'realtime.messages'::regclass"
    ).fetchone()
    assert owners == ("messages", "supabase_realtime_admin", True)
    send_owner = conn.execute(
        "select pg_get_userbyid(proowner)::text, prosecdef from pg_proc"
        " where oid = 'realtime.send(jsonb, text, text, boolean)'::regprocedure"
    ).fetchone()
    assert send_owner == ("supabase_realtime_admin", False)


def test_a_status_set_by_hand_is_sent_without_an_event(conn: psycopg.Connection) -> None:
    job_id = submit(conn, "by hand")
    # pending -> running without a new attempt records no event, but the page shows it.
    conn.execute("update job_results set status = 'running' where job_id = %s", (job_id,))
    [(_, payload, _)] = messages(conn, f"jobs:job:{job_id}")
    assert payload["event"] is None and payload["job"]["status"] == "running"

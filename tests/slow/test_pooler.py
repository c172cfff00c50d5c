"""The functions behind a real transaction pooler (Debian's pgbouncer): no server-side prepared
statements, no session state, the whole pipeline and a 1,000-job run through it."""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from devstack.sweeper import Sweeper
from functions import once
from functions.config import ConfigError, Database, behind_transaction_pooler
from functions.core.models import Caller, NewJob
from functions.db.connections import connect
from functions.db.store import PgJobStore
from tests.conftest import PgServer, get_server
from tests.local_stack import running_stack
from tests.pooler import Pooler, pgbouncer
from tests.stack.test_faults import all_finished, install_status_log
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
# What a user sets where the pooler's port is not Supabase's 6543 (here a free port).
POOLED = {"DATABASE_POOLER": "transaction"}
PREPARED_ERROR = re.compile(r"prepared statement .* (does not exist|already exists)", re.I)


def database_of(url: str) -> str:
    return urlsplit(url).path[1:]


@pytest.fixture
def pooler(pg_server: PgServer) -> Iterator[Pooler]:
    with pgbouncer(pg_server.admin_url) as running:
        yield running


class LockedLog(io.StringIO):
    """Every function's log lines, from several pump threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)


def _switch_sessions_under(conn: psycopg.Connection, other: psycopg.Connection) -> None:
    """Run one statement often enough for psycopg to want it prepared, then make the pooler
    hand the next execution to another server session (``other`` holds the first one)."""
    for _ in range(8):
        conn.execute("select count(*) from public.job_results where status = %s", ("pending",))
    with other.transaction():
        other.execute("select 1")
        conn.execute("select count(*) from public.job_results where status = %s", ("pending",))


def test_psycopgs_default_prepared_statements_break_behind_the_pooler(
    pooler: Pooler, db_url: str
) -> None:
    """The control: the pooler really moves statements between sessions."""
    url = pooler.url_for(database_of(db_url))
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as other,
        pytest.raises(psycopg.errors.InvalidSqlStatementName, match="prepared statement"),
    ):
        _switch_sessions_under(conn, other)


def test_the_functions_connections_survive_the_pooler_switching_sessions(
    pooler: Pooler, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.from_env(
        {"DATABASE_URL": pooler.url_for(database_of(db_url)), "DATABASE_POOLER": "transaction"}
    )
    with connect(database, "test") as conn, connect(database, "test-other") as other:
        assert conn.prepare_threshold is None
        _switch_sessions_under(conn, other)


@pytest.mark.parametrize(
    ("url", "declared", "pooled"),
    [
        ("postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:6543/postgres", "", True),
        ("postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:5432/postgres", "", False),
        ("postgresql://postgres@db.abc.supabase.co:5432/postgres", "", False),
        ("host=127.0.0.1 port=6543 dbname=postgres", "", True),
        ("postgresql://postgres@127.0.0.1/postgres", "", False),
        ("postgresql://u@h1:5432,h2:6543/postgres", "", True),
        ("postgresql://u@[::1]:6543/postgres", "", True),
        ("postgresql://u@[::1]/postgres", "", False),
        ("postgresql:///postgres?host=/tmp&port=6543", "", True),
        ("dbname=postgres port = '5432'", "", False),
        ("postgresql://postgres@127.0.0.1:41234/postgres", "transaction", True),
        ("postgresql://postgres@127.0.0.1:6543/postgres", "direct", False),
        ("postgresql://postgres@127.0.0.1:6543/postgres", "Session", False),
    ],
)
def test_a_transaction_pooler_is_recognised_by_its_port_or_declared(
    url: str, declared: str, pooled: bool
) -> None:
    assert behind_transaction_pooler(url, declared) is pooled


def test_a_misspelt_pooler_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DATABASE_POOLER"):
        Database.from_env({"DATABASE_URL": "postgresql://x@h/db", "DATABASE_POOLER": "transactoin"})


SESSION_STATE = re.compile(
    r"""(^|["'(;]\s*)(set\s+(session\s+)?[a-z_.]+\s*(=|to)\b|listen\s|create\s+temp|
    pg_advisory_lock\(|pg_try_advisory_lock\(|prepare\s)""",
    re.I | re.X,
)


def test_no_function_relies_on_session_state() -> None:
    """SET, LISTEN, temporary tables, session advisory locks and PREPARE would all break (or
    leak into another client's session) behind a transaction pooler."""
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in sorted((ROOT / "functions").rglob("*.py"))
        for match in SESSION_STATE.finditer(path.read_text())
    ]
    assert offenders == []


def test_the_whole_pipeline_runs_with_the_functions_behind_the_pooler(
    pooler: Pooler, db_url: str
) -> None:
    log = LockedLog()
    pooled = pooler.url_for(database_of(db_url))
    with running_stack(
        db_url, functions_database_url=pooled, log_sink=log, database_env=POOLED
    ) as stack:
        assert stack.env_for("process_job")["DATABASE_URL"] == pooled
        assert stack.env_for("submit")["DATABASE_POOLER"] == "transaction"
        good = [stack.submit(f"pooled-{i}", kind="noop") for i in range(30)]
        doomed = stack.submit("pooled-fail", kind="fail", payload={"message": "no"})
        flaky = stack.submit("pooled-flaky", kind="flaky", payload={"succeed_on": 2})
        for job_id in good:
            stack.wait_for_status(job_id, "completed")
        assert stack.wait_for_status(doomed, "failed")["attempts"] == 3
        assert stack.wait_for_status(flaky, "completed")["attempts"] == 2
        status, listed = stack.request("submit", "GET", "/jobs?limit=50")
        assert status == 200 and len(listed["jobs"]) == 32
    assert not PREPARED_ERROR.search(log.getvalue())


JOBS = 1000
CLIENTS = 20


def submit_many(submit_url: str, jobs: int, clients: int) -> list[int]:
    """POST ``jobs`` no-op jobs from ``clients`` concurrent HTTP clients; their statuses."""

    def client(index: int) -> list[int]:
        statuses = []
        for n in range(index, jobs, clients):
            body = json.dumps({"task_name": f"pooled-{n}", "kind": "noop"}).encode()
            request = urllib.request.Request(
                submit_url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                statuses.append(response.status)
        return statuses

    with ThreadPoolExecutor(clients) as pool:
        return [status for batch in pool.map(client, range(clients)) for status in batch]


@pytest.mark.load
def test_1000_jobs_through_pgbouncer_complete_without_a_prepared_statement_error(
    embedded_db_url: str,
) -> None:
    install_status_log(embedded_db_url)
    log = LockedLog()
    with pgbouncer(get_server("embedded").admin_url) as pooler:
        pooled = pooler.url_for(database_of(embedded_db_url))
        with running_stack(
            embedded_db_url,
            extra_env={"BATCH_SIZE": "50"},
            functions_database_url=pooled,
            log_sink=log,
            database_env=POOLED,
        ) as stack:
            sweeper = Sweeper(stack.database_url, interval_s=2.0).start()
            try:
                statuses = submit_many(stack.url("submit", "/jobs"), JOBS, CLIENTS)
                state = wait_for(
                    lambda: all_finished(embedded_db_url, JOBS),
                    timeout=300,
                    interval=0.5,
                    what="every job to finish",
                )
            finally:
                sweeper.stop()
        bouncer_log = pooler.log_text()
    assert statuses == [202] * JOBS
    assert state["completed"] == JOBS and state["failed"] == 0
    assert state["archived"] == state["archived_ids"] == JOBS
    assert state["max_terminal"] == 1
    assert not PREPARED_ERROR.search(log.getvalue())
    assert not PREPARED_ERROR.search(bouncer_log)


def test_owned_and_public_submissions_keep_their_owners_behind_the_pooler(
    pooler: Pooler, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's claims are set for the submitting transaction only: behind the pooler the next
    client's transaction on the same server session starts without them."""
    store = PgJobStore(
        Database.from_env(
            {"DATABASE_URL": pooler.url_for(database_of(db_url)), "DATABASE_POOLER": "transaction"}
        )
    )
    users = [uuid.uuid4() for _ in range(3)]

    def client(index: int) -> list[tuple[str, uuid.UUID | None]]:
        made = []
        for n in range(20):
            user = users[(index + n) % len(users)] if n % 2 else None
            owner = None if user is None else Caller(user, json.dumps({"sub": str(user)}))
            job_id = store.submit(NewJob(f"{index}-{n}", {}, owner=owner))
            made.append((str(job_id), user))
        return made

    try:
        with ThreadPoolExecutor(4) as pool:
            expected = dict(pair for made in pool.map(client, range(4)) for pair in made)
    finally:
        once.reset_all()
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("select job_id::text, owner_id from job_results").fetchall()
    assert dict(rows) == expected
    assert sum(owner is None for owner in expected.values()) == 40

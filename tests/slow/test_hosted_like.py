"""The migrations and the whole pipeline on a Postgres set up as a hosted Supabase project is:
the Supabase CLI migrates as the non-superuser postgres, the platform's supabase_admin owns the
extensions' schemas, and `net` carries upstream pg_net's grants and hosted Supabase's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from devstack.postgres import migrate
from devstack.postgres.embedded import EmbeddedPostgres
from tests import hosted_like
from tests.catalog import differences, snapshot
from tests.local_stack import running_stack

MIGRATION_FILES = [(m.version, m.name) for m in migrate.discover()]


@pytest.fixture
def fresh_name(hosted_server: EmbeddedPostgres) -> Iterator[str]:
    name = f"h_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(hosted_server.url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def test_the_cli_applies_every_migration_as_non_superuser_postgres(
    hosted_server: EmbeddedPostgres, fresh_name: str
) -> None:
    url = hosted_like.prepare_database(hosted_server, fresh_name, pgmq_schema_owner="postgres")
    first = hosted_like.apply_with_cli(url)
    assert first.returncode == 0, first.stderr
    again = hosted_like.apply_with_cli(url)
    assert again.returncode == 0, again.stderr
    assert "Applying migration" not in again.stdout + again.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select current_user, rolsuper from pg_roles where rolname = current_user"
        ).fetchone() == ("postgres", False)
        recorded = conn.execute(
            "select version, name from supabase_migrations.schema_migrations order by version"
        ).fetchall()
        owners = conn.execute(
            "select (select nspowner::regrole::text from pg_namespace where nspname = 'net'),"
            " (select relowner::regrole::text from pg_class where oid = 'pgmq.meta'::regclass),"
            " (select relowner::regrole::text from pg_class"
            "  where oid = 'pgmq.q_work_queue'::regclass)"
        ).fetchone()
        queued = conn.execute("select public.submit_job('hosted', '{}')").fetchone()
    assert [tuple(r) for r in recorded] == MIGRATION_FILES
    assert owners == ("supabase_admin", "postgres", "postgres")
    assert queued is not None


def test_migrations_stop_with_an_explanation_where_the_platform_owns_the_pgmq_schema(
    hosted_server: EmbeddedPostgres, fresh_name: str
) -> None:
    # pgmq created with no schema in place: CREATE EXTENSION, run as supabase_admin by supautils,
    # creates the schema itself, and no project role may create tables in it.
    url = hosted_like.prepare_database(
        hosted_server, fresh_name, pgmq_schema_owner="supabase_admin"
    )
    done = hosted_like.apply_with_cli(url)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "may not create tables in schema pgmq (owned by supabase_admin)" in output
    with psycopg.connect(url) as conn:
        assert conn.execute("select has_schema_privilege('pgmq', 'CREATE')").fetchone() == (False,)
        assert conn.execute(
            "select count(*) from pg_class where relname = 'q_work_queue'"
        ).fetchone() == (0,)
        # Nothing half-applied: the CLI recorded no migration.
        assert conn.execute(
            "select count(*) from supabase_migrations.schema_migrations"
        ).fetchone() == (0,)


def test_hosted_like_servers_run_the_majors_under_test(hosted_server: EmbeddedPostgres) -> None:
    with psycopg.connect(hosted_server.url) as conn:
        row = conn.execute("select current_setting('server_version_num')::int / 10000").fetchone()
    assert row is not None and row[0] in (15, 18)


def test_net_carries_pg_nets_grants_which_postgres_cannot_revoke(hosted_db_url: str) -> None:
    with psycopg.connect(hosted_db_url, autocommit=True) as conn:
        conn.execute("set client_min_messages = error")
        # As a migration would try: postgres does not own net, so this changes nothing.
        conn.execute("revoke all on net.http_request_queue from public, anon")
        conn.execute("revoke usage on schema net from anon")
        row = conn.execute(
            "select has_schema_privilege('anon', 'net', 'USAGE'),"
            " has_table_privilege('anon', 'net.http_request_queue',"
            "   'SELECT, INSERT, UPDATE, DELETE'),"
            " has_table_privilege('anon', 'net._http_response', 'SELECT, DELETE'),"
            " has_function_privilege('anon',"
            "   'net.http_post(text, jsonb, jsonb, jsonb, integer)', 'EXECUTE')"
        ).fetchone()
    assert row == (True, True, True, True)


def test_a_submitted_job_completes_end_to_end(hosted_db_url: str) -> None:
    # The functions, the relay and the trigger all run as the non-superuser postgres.
    with running_stack(hosted_db_url) as stack:
        job_id = stack.submit("Hosted report", payload={"seconds": 0.2})
        job = stack.wait_for_status(job_id, "completed", timeout=30)
        assert job["attempts"] == 1
        assert stack.archived(job["msg_id"])
        with psycopg.connect(hosted_db_url) as conn:
            delivered = conn.execute(
                "select count(*) from net._http_response where status_code = 202"
            ).fetchone()
        assert delivered is not None and delivered[0] >= 1


def test_the_runner_sees_no_usable_pg_net_as_non_superuser_postgres(hosted_db_url: str) -> None:
    # The hosted-like clusters here do not preload pg_net, so the shim stands in and the relay runs.
    assert migrate.real_pg_net(hosted_db_url) is False


def test_the_runner_migrates_a_fresh_hosted_project_as_postgres_as_the_cli_does(
    hosted_server: EmbeddedPostgres, fresh_name: str
) -> None:
    """The other documented way (``supajobs-migrate`` / ``python -m devstack.postgres.migrate``
    with the direct connection): as the non-superuser postgres, on a fresh project, it builds the
    same database the Supabase CLI does on the same server, and a second run applies nothing."""
    url = hosted_like.prepare_database(hosted_server, fresh_name, pgmq_schema_owner="postgres")
    assert migrate.migrate(url) == [f"{v}_{n}.sql" for v, n in MIGRATION_FILES]
    assert migrate.migrate(url) == []
    by_cli = f"{fresh_name}_cli"
    try:
        cli_url = hosted_like.prepare_database(hosted_server, by_cli, pgmq_schema_owner="postgres")
        done = hosted_like.apply_with_cli(cli_url)
        assert done.returncode == 0, done.stderr
        assert differences(snapshot(url), snapshot(cli_url)) == []
    finally:
        with psycopg.connect(hosted_server.url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{by_cli}" with (force)')


def test_the_runner_accepts_a_history_the_supabase_cli_recorded(hosted_db_url: str) -> None:
    with psycopg.connect(hosted_db_url) as conn:
        rows = conn.execute(
            "select version, statements from supabase_migrations.schema_migrations"
        ).fetchall()
    assert rows and all(len(statements) > 1 for _, statements in rows)  # split by the CLI
    migrate.check_history({v: s for v, s in rows}, migrate.discover())

"""The schema folder is the source, and the migrations agree with it: a database built from
supabase/schema/ and one built by applying supabase/migrations/ have the same catalog, object by
object. A migration that has landed is never edited, and the runner refuses a database whose
recorded history is not the folder's."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import migrate
from devstack.postgres.schema import SCHEMA_DIR, schema_files, schema_sql
from tests.catalog import differences, snapshot
from tests.conftest import ROOT, PgServer

MIGRATIONS = Path("supabase/migrations")


@pytest.fixture
def blank_url(pg_server: PgServer) -> Iterator[str]:
    """An empty database of its own, dropped afterwards."""
    name = f"blank_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        yield pg_server.url_for(name)
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def build_from_schema(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        migrate.prepare(conn)
        conn.execute(schema_sql().encode())


def test_the_schema_folder_and_the_migrations_build_the_same_database(
    db_url: str, blank_url: str
) -> None:
    build_from_schema(blank_url)
    from_schema, from_migrations = snapshot(blank_url), snapshot(db_url)
    assert len(from_schema) > 100  # it looked at the objects, not at nothing
    assert differences(from_schema, from_migrations) == []


def test_the_comparison_notices_a_function_defined_otherwise(db_url: str, blank_url: str) -> None:
    build_from_schema(blank_url)
    with psycopg.connect(blank_url, autocommit=True) as conn:
        conn.execute(
            "create or replace function private.max_workers() returns integer"
            " language sql stable security definer set search_path = pg_catalog"
            " as $$ select 6 $$"
        )
        conn.execute("alter table public.job_results add column extra text")
    found = differences(snapshot(blank_url), snapshot(db_url))
    assert any(line.startswith("function private.max_workers()") for line in found)
    assert "column public.job_results.extra: only in the first" in found


def test_every_function_is_written_once_in_the_schema_folder() -> None:
    seen: dict[str, Path] = {}
    for path in schema_files():
        for line in path.read_text().splitlines():
            words = line.lower().split()
            if words[:3] in (["create", "or", "replace"],) and words[3] in (
                "function",
                "procedure",
            ):
                name = words[4].split("(")[0]
                assert name not in seen, f"{name} is written in {seen[name]} and {path}"
                seen[name] = path
    assert "public.submit_job" in seen and "private.claim_jobs" in seen


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_no_migration_on_main_was_edited_after_it_landed() -> None:
    """Each commit of main's first-parent history (where every landing is one commit) that has
    a migration file has it byte for byte as it is now: edits on a branch before it lands are
    free, edits after are not."""
    if not (ROOT / ".git").exists():
        pytest.fail("this check reads git history; run it in a clone")
    current = {
        line.split("\t")[1]: line.split()[2]
        for line in _git("ls-tree", "HEAD", f"{MIGRATIONS}/").splitlines()
    }
    assert current, "no migrations at HEAD"
    commits = _git("log", "--first-parent", "--format=%H", "HEAD", "--", str(MIGRATIONS)).split()
    edited = []
    for commit in commits:
        for line in _git("ls-tree", commit, f"{MIGRATIONS}/").splitlines():
            blob, path = line.split()[2], line.split("\t")[1]
            if path in current and current[path] != blob:
                edited.append(f"{path} differs from its landed version in {commit[:10]}")
    assert edited == []


def test_the_runner_refuses_a_database_migrated_with_a_history_the_folder_lacks(
    db_url: str,
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, statements, name)"
            " values ('20261129000100', array['select 1'], 'extensions')"
        )
    with pytest.raises(migrate.StaleDatabase, match="make clean-data"):
        migrate.migrate(db_url)
    done = subprocess.run(
        [".venv/bin/python", "-m", "devstack.postgres.migrate", "--database-url", db_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "refused:" in done.stderr and "squashed" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_runner_refuses_a_migration_edited_after_it_was_applied(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "update supabase_migrations.schema_migrations"
            " set statements = array[statements[1] || E'\\n-- edited later']"
        )
    with pytest.raises(migrate.StaleDatabase, match="never edited once it has landed"):
        migrate.migrate(db_url)


def test_the_runner_accepts_what_it_applied_itself(db_url: str) -> None:
    assert migrate.migrate(db_url) == []  # the template was migrated by it: nothing new, no refusal


def test_the_schema_folder_ships_in_the_order_that_builds_it() -> None:
    names = [p.relative_to(SCHEMA_DIR).as_posix() for p in schema_files()]
    assert names[0] == "01_extensions.sql"
    assert names.index("10_tables/20_job_results.sql") < names.index(
        "20_functions/40_claim_jobs.sql"
    )
    assert names.index("20_functions/40_claim_jobs.sql") < names.index(
        "30_triggers/10_call_job_webhook.sql"
    )

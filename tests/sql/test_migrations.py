from __future__ import annotations

import uuid

import psycopg

from devstack.postgres import migrate
from tests.conftest import PgServer


def test_migrations_apply_twice_on_a_fresh_database(pg_server: PgServer) -> None:
    name = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        url = pg_server.url_for(name)
        first = migrate.migrate(url)
        second = migrate.migrate(url)
        assert first == [m.path.name for m in migrate.discover()]
        assert second == []
        with psycopg.connect(url) as conn:
            queues = conn.execute("select queue_name from pgmq.list_queues()").fetchall()
            recorded = conn.execute(
                "select count(*) from supabase_migrations.schema_migrations"
            ).fetchone()
        assert ("work_queue",) in queues
        assert recorded == (len(first),)
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def test_servers_under_test_are_supported_majors(pg_server: PgServer) -> None:
    assert pg_server.major_version() in (15, 16, 17, 18)

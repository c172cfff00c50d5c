"""A PostgreSQL 15 cluster with the real pg_cron preloaded, as hosted Supabase runs it.

Debian packages pg_cron as ``postgresql-15-cron`` (``.ci/run`` installs it). The cluster runs
from ``/usr/lib/postgresql/15/bin`` (``CRON_PG_BIN_DIR`` to move it) with its data under the
worktree's ``.devstack/``, on a free port, with ``shared_preload_libraries = 'pg_cron'``.
pg_cron's scheduler serves one database, ``cron.database_name``, read only at server start (as
on hosted projects, where it is ``postgres``); ``CronCluster.serve`` points it at a test's own
database and restarts the server, so each test gets a fresh migrated database in which
``create extension pg_cron`` works and whose scheduled jobs run.

The scheduler reaches the database over TCP on loopback (``cron.host``), trusted like every
local connection here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devstack.postgres.embedded import EmbeddedPostgres, embedded

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SETTINGS = """
# tests/cron_cluster.py: pg_cron as hosted Supabase preloads it
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '127.0.0.1'
"""
INSTALL_HINT = "apt-get install -y postgresql-15-cron (see .ci/run)"


def bin_dir() -> Path:
    return Path(os.environ.get("CRON_PG_BIN_DIR", str(DEFAULT_BIN_DIR)))


def missing() -> str | None:
    """What the machine lacks for a pg_cron cluster, or None."""
    binaries = bin_dir()
    if not (binaries / "initdb").exists():
        return f"no PostgreSQL server binaries in {binaries}"
    if not (binaries.parent / "lib" / "pg_cron.so").exists():
        return f"pg_cron is not installed for {binaries.parent} ({INSTALL_HINT})"
    return None


@dataclass
class CronCluster:
    server: EmbeddedPostgres
    database: str = "postgres"

    @property
    def admin_url(self) -> str:
        return self.server.url

    def url_for(self, database: str) -> str:
        return self.server.url_for(database)

    def serve(self, database: str) -> None:
        """Make ``database`` the one pg_cron schedules in (restarts the server if it changes)."""
        if database == self.database:
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"alter system set cron.database_name = '{database}'")
        self.restart()
        self.database = database

    def restart(self) -> None:
        self.server.stop(mode="fast")
        self.server.start()

    def stop(self) -> None:
        self.server.stop(mode="fast")


def start(data_dir: Path) -> CronCluster:
    """Start (creating on first use) the pg_cron cluster in ``data_dir``."""
    problem = missing()
    if problem:
        raise RuntimeError(problem)
    server = embedded(data_dir, bin_dir=bin_dir())
    server.start()
    conf = server.data_dir / "pgdata" / "postgresql.conf"
    if SETTINGS not in conf.read_text():
        # Written to the file, not by ALTER SYSTEM: cron.* are unknown until pg_cron is loaded.
        with conf.open("a") as out:
            out.write(SETTINGS)
    cluster = CronCluster(server)
    cluster.restart()  # shared_preload_libraries takes effect only at start
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("alter system reset cron.database_name")  # a previous run's choice
    cluster.restart()
    return cluster


def pg_cron_version(url: str) -> tuple[int, ...]:
    """The installed pg_cron extension's version in the database at ``url``."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select extversion from pg_extension where extname = 'pg_cron'"
        ).fetchone()
    if row is None:
        raise RuntimeError("pg_cron is not created in this database")
    return tuple(int(part) for part in str(row[0]).replace("-", ".").split("."))

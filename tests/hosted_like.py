"""A Postgres prepared the way a hosted Supabase project is, for tests and ``--hosted-like``.

A hosted project's bootstrap superuser is ``supabase_admin``; ``postgres``, the role that runs
the project's migrations, is not a superuser. Privileged extensions are created on its behalf by
supabase_admin (supautils), which then hands their members to postgres. Because roles are
cluster-wide, that cannot be faked on a server whose ``postgres`` is a superuser (the machine's
shared server), so this runs its own cluster, initialised with supabase_admin as the bootstrap
user, from the embedded wheel's binaries or from an installed server's (``--bin-dir``, e.g.
``/usr/lib/postgresql/15/bin``). What each step copies is cited in
``tests/sql_fixtures/hosted_*.sql``.

    python -m tests.hosted_like [--data-dir DIR] [--bin-dir DIR] [--database NAME]
        [--pgmq-schema-owner postgres|supabase_admin] [--apply]
    python -m tests.hosted_like [--data-dir DIR] [--bin-dir DIR] --stop

The cluster keeps running after the first form, for psql or the functions; ``--stop`` stops it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from devstack.postgres import migrate
from devstack.postgres.embedded import EmbeddedPostgres, embedded
from devstack.postgres.migrate import ROOT, SQL_DIR

SUPERUSER = "supabase_admin"
MIGRATOR = "postgres"
# The cluster-wide steps hosted Supabase takes, each citing its source.
FIXTURES = Path(__file__).resolve().parent / "sql_fixtures"
SUPABASE_CLI = ROOT / "deploy" / "supabase-cli" / "node_modules" / ".bin" / "supabase"

PgmqSchemaOwner = Literal["postgres", "supabase_admin"]


def cluster(data_dir: Path, bin_dir: Path | None = None) -> EmbeddedPostgres:
    """The hosted-like cluster in ``data_dir`` (started, roles in place)."""
    server = embedded(data_dir, superuser=SUPERUSER, bin_dir=bin_dir).start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        conn.execute((FIXTURES / "hosted_roles.sql").read_bytes())
    return server


def _install_pgmq(conn: psycopg.Connection, schema_owner: PgmqSchemaOwner) -> None:
    from pgmq.install import get_embedded_install_sql

    if schema_owner == MIGRATOR:
        # The dashboard's Queues integration creates the schema as postgres, then the extension.
        conn.execute("set role postgres")
        conn.execute("create schema pgmq")
        conn.execute("reset role")
    # supautils runs CREATE EXTENSION as supabase_admin; an absent schema is created by it too.
    conn.execute(get_embedded_install_sql())
    conn.execute((FIXTURES / "hosted_pgmq_reown.sql").read_bytes())


def prepare_database(
    server: EmbeddedPostgres, database: str, pgmq_schema_owner: PgmqSchemaOwner = "postgres"
) -> str:
    """Create ``database`` as a fresh hosted project has it; return postgres's URL for it.

    PGMQ is installed up front, as the platform would on the project's behalf: neither server
    here has pgmq as an extension, so a migration's ``create extension pgmq`` could not reach
    supautils' path. ``net`` is the real pg_net where the cluster preloads it for this database,
    otherwise the shim with pg_net's grants; hosted Supabase's grants are added to either.
    """
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {} owner postgres").format(sql.Identifier(database)))
    with psycopg.connect(server.url_for(database), autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        with conn.transaction():
            conn.execute((FIXTURES / "hosted_database.sql").read_bytes())
            # What the Realtime service's tenant migrations create when the project starts
            # (the same stand-in the migration runner gives a plain Postgres).
            conn.execute((SQL_DIR / "realtime_schema.sql").read_bytes())
            if conn.execute(
                "select to_regprocedure('extensions.hmac(bytea, bytea, text)')"
            ).fetchone() == (None,):
                # Hosted projects have pgcrypto (owned by postgres, init-scripts); where this
                # server lacks it, the same stand-in devstack.postgres.migrate uses, owned the
                # same way.
                conn.execute("set role postgres")
                conn.execute((SQL_DIR / "pgcrypto_hmac_shim.sql").read_bytes())
                conn.execute("reset role")
            if migrate.plan_net(migrate.inspect_pg_net(conn)).real:
                # migrations/20240822021428_enable_webhooks_by_default.sql
                conn.execute("create extension pg_net schema extensions")
            else:
                conn.execute((SQL_DIR / "pg_net_shim.sql").read_bytes())
            conn.execute((FIXTURES / "hosted_pg_net_access.sql").read_bytes())
            _install_pgmq(conn, pgmq_schema_owner)
    return server.url_for(database, user=MIGRATOR)


def cli_url(url: str) -> str:
    """``url`` with ``sslmode=disable`` unless it names one (the CLI insists on TLS otherwise)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "disable")
    return urlunsplit(parts._replace(query=urlencode(query)))


def apply_with_cli(url: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``supabase migration up --db-url`` as the role in ``url``; the caller checks the result."""
    from tests.conftest import exclusive  # here: conftest imports this module

    # Two workers' npm ci into one node_modules at once break each other (ENOTEMPTY).
    with exclusive("supabase-cli-install"):
        if not SUPABASE_CLI.exists():
            subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=SUPABASE_CLI.parents[2],
                check=True,
            )
    return subprocess.run(
        [str(SUPABASE_CLI), "migration", "up", "--db-url", cli_url(url)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "DO_NOT_TRACK": "1"},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".devstack" / "hosted-like")
    parser.add_argument("--bin-dir", type=Path, help="an installed server's bin directory")
    parser.add_argument("--database", default="supajobs")
    parser.add_argument(
        "--pgmq-schema-owner", choices=["postgres", "supabase_admin"], default="postgres"
    )
    parser.add_argument("--apply", action="store_true", help="apply the migrations with the CLI")
    parser.add_argument("--stop", action="store_true", help="stop the cluster in --data-dir")
    args = parser.parse_args(argv)
    if args.stop:
        embedded(args.data_dir.resolve(), superuser=SUPERUSER, bin_dir=args.bin_dir).stop()
        return 0
    server = cluster(args.data_dir.resolve(), args.bin_dir)
    url = prepare_database(server, args.database, args.pgmq_schema_owner)
    print(f"hosted-like database: {url} (superuser: {server.url_for(args.database)})")
    if args.apply:
        done = apply_with_cli(url)
        print(done.stdout + done.stderr, end="")
        return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())

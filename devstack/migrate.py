"""Apply ``supabase/migrations`` to any Postgres, hosted Supabase or plain.

On a plain Postgres it first provides what Supabase would: the API roles and Realtime
publication, PGMQ (from the ``pgmq`` package's bundled SQL when the extension is not available)
and a ``net`` schema with pg_net's interface. Applied migrations are recorded in the same table
the Supabase CLI uses, so running it again applies nothing twice.

    python -m devstack.migrate [--database-url URL] [--webhook-url URL --webhook-secret S]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(__file__).resolve().parent
# A checkout keeps them where the Supabase CLI reads them; an installed wheel carries them as
# devstack/migrations (pyproject.toml maps that package to supabase/migrations).
MIGRATIONS_DIR = next(
    (d for d in (PACKAGE / "migrations", ROOT / "supabase" / "migrations") if d.is_dir()),
    ROOT / "supabase" / "migrations",
)
SQL_DIR = PACKAGE / "sql"
# Any constant works; it only keeps two runners from migrating one database at once.
MIGRATION_LOCK_KEY = 7_302_911_004

log = logging.getLogger("devstack.migrate")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order (``<version>_<name>.sql``, as the Supabase CLI)."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        if not version.isdigit():
            raise ValueError(f"{path.name}: a migration file name starts with digits and '_'")
        found.append(Migration(version=version, name=name, path=path))
    if not found:
        # A database "migrated" with nothing would only fail later, far from the cause.
        raise FileNotFoundError(f"no migrations (<version>_<name>.sql) in {directory}")
    return found


def _extension_available(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "select exists (select 1 from pg_available_extensions where name = %s)", (name,)
    ).fetchone()
    return bool(row and row[0])


def _ensure_pgmq(conn: psycopg.Connection) -> str:
    present = conn.execute("select to_regnamespace('pgmq') is not null").fetchone()
    if present and present[0]:
        return "present"
    if _extension_available(conn, "pgmq"):
        conn.execute("create extension if not exists pgmq")
        return "extension"
    # The bundled script is not idempotent, which is why it only runs where pgmq is absent.
    from pgmq.install import get_embedded_install_sql

    conn.execute(get_embedded_install_sql())
    return "bundled SQL"


def _ensure_net(conn: psycopg.Connection) -> str:
    present = conn.execute(
        "select to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is not null"
    ).fetchone()
    if present and present[0]:
        return "present"
    if _extension_available(conn, "pg_net"):
        conn.execute("create extension if not exists pg_net")
        return "extension"
    conn.execute((SQL_DIR / "pg_net_shim.sql").read_text())
    return "shim"


def prepare(conn: psycopg.Connection) -> None:
    """Give a plain Postgres what the migrations expect of a Supabase database."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute((SQL_DIR / "supabase_compat.sql").read_text())
        log.info("pgmq: %s", _ensure_pgmq(conn))
        log.info("net: %s", _ensure_net(conn))


def apply_migrations(conn: psycopg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction."""
    applied: list[str] = []
    for migration in migrations:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            conn.execute("create schema if not exists supabase_migrations")
            conn.execute(
                "create table if not exists supabase_migrations.schema_migrations"
                " (version text primary key, statements text[], name text)"
            )
            done = conn.execute(
                "select 1 from supabase_migrations.schema_migrations where version = %s",
                (migration.version,),
            ).fetchone()
            if done:
                continue
            sql = migration.path.read_text()
            conn.execute(sql.encode())  # a trusted file from the repo, run as one script
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, statements, name)"
                " values (%s, %s, %s)",
                (migration.version, [sql], migration.name),
            )
            applied.append(migration.path.name)
            log.info("applied %s", migration.path.name)
    return applied


def configure_webhook(conn: psycopg.Connection, url: str, secret: str) -> None:
    """Point the queue trigger at the webhook (private settings; hosted Supabase uses Vault)."""
    with conn.transaction():
        for name, value in (("job_webhook_url", url), ("job_webhook_secret", secret)):
            conn.execute(
                "insert into private.settings (name, value) values (%s, %s)"
                " on conflict (name) do update set value = excluded.value",
                (name, value),
            )


def migrate(
    database_url: str,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    prepare_only: bool = False,
) -> list[str]:
    """Prepare the database, apply pending migrations, and optionally configure the webhook."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        prepare(conn)
        if prepare_only:
            return []
        applied = apply_migrations(conn, discover())
        if webhook_url is not None:
            configure_webhook(conn, webhook_url, webhook_secret or "")
        return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret", default=os.environ.get("WEBHOOK_SECRET"))
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="only provide roles, PGMQ and net (for applying the migrations with the Supabase CLI)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    applied = migrate(
        args.database_url,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        prepare_only=args.prepare_only,
    )
    print(f"{len(applied)} migration(s) applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())

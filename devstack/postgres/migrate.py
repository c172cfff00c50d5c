"""Apply ``supabase/migrations`` to any Postgres, hosted Supabase or plain.

On a plain Postgres it first provides what Supabase would: the API roles and Realtime
publication, PGMQ (from the ``pgmq`` package's bundled SQL when the extension is not available)
and ``net``: the real pg_net where it is preloaded and its worker serves this database,
otherwise a shim with pg_net's interface and grants (see ``plan_net``). Applied migrations are
recorded in the same table the Supabase CLI uses, so running it again applies nothing twice.

    python -m devstack.postgres.migrate [--database-url URL] [--webhook-url URL --webhook-secret S]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = Path(__file__).resolve().parents[1]
# A checkout keeps them where the Supabase CLI reads them; an installed wheel carries them as
# devstack/migrations (pyproject.toml maps that package to supabase/migrations).
MIGRATIONS_DIR = next(
    (d for d in (DEVSTACK / "migrations", ROOT / "supabase" / "migrations") if d.is_dir()),
    ROOT / "supabase" / "migrations",
)
# What a plain Postgres lacks and hosted Supabase has: pg_net's interface, extensions.hmac, roles.
SQL_DIR = Path(__file__).resolve().parent / "sql"
# Any constant works; it only keeps two runners from migrating one database at once.
MIGRATION_LOCK_KEY = 7_302_911_004

log = logging.getLogger("devstack.postgres.migrate")


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
        # The baseline creates it, schema first: CREATE EXTENSION here would leave the schema
        # to whoever runs it for us (supautils' supabase_admin on hosted projects), and the
        # migrating role unable to create the queue's tables in it.
        return "extension (created by the first migration)"
    # The bundled script is not idempotent, which is why it only runs where pgmq is absent.
    from pgmq.install import get_embedded_install_sql

    conn.execute(get_embedded_install_sql())
    return "bundled SQL"


@dataclass(frozen=True)
class PgNetReport:
    """What the server says about pg_net, as seen from one database."""

    database: str
    available: bool  # the server has pg_net's files (pg_available_extensions)
    installed: bool  # CREATE EXTENSION pg_net was run in this database
    net_present: bool  # net.http_post exists here: the extension's or the shim's
    preloaded: bool  # pg_net is in shared_preload_libraries, so its worker runs
    served_database: str | None  # pg_net.database_name; None when the library is not loaded


@dataclass(frozen=True)
class NetPlan:
    """What to do about ``net`` in one database, and whether real pg_net delivers there."""

    action: Literal["create_extension", "install_shim", "none"]
    real: bool
    warning: str | None = None


def plan_net(report: PgNetReport) -> NetPlan:
    """Use real pg_net only where its worker serves this database; otherwise the shim and relay.

    An unusable pg_net falls back to the shim with a warning rather than failing: CREATE
    EXTENSION would fail when the library is not preloaded, and where the worker serves another
    database every request queued here would silently never be sent. The shim and relay keep
    the local stack working, and the warning says what to change to get the real thing.
    """
    serves_here = report.preloaded and report.served_database == report.database
    if report.installed:
        if serves_here:
            return NetPlan("none", real=True)
        return NetPlan("none", real=False, warning=_unserved(report))
    if report.net_present:
        return NetPlan("none", real=False)
    if not report.available:
        return NetPlan("install_shim", real=False)
    if serves_here:
        return NetPlan("create_extension", real=True)
    return NetPlan("install_shim", real=False, warning=_unserved(report))


def _unserved(report: PgNetReport) -> str:
    if not report.preloaded:
        why = (
            "is not in shared_preload_libraries, so its worker does not run"
            " (add it there and restart the server to use it)"
        )
    else:
        why = (
            f"its worker serves database {report.served_database!r} (pg_net.database_name),"
            f" not {report.database!r}, so requests queued here would never be sent"
            f" (set pg_net.database_name = '{report.database}' and restart to use it)"
        )
    if report.installed:
        return (
            f"pg_net is installed in this database but {why}; nothing sends its queued"
            " requests, so jobs wait for the sweeper"
        )
    return (
        f"pg_net is on this server but {why}; using the pg_net-compatible shim instead,"
        " whose requests the relay (python -m devstack.relay) delivers"
    )


def inspect_pg_net(conn: psycopg.Connection) -> PgNetReport:
    row = conn.execute(
        """
        select current_database(),
               exists (select 1 from pg_available_extensions where name = 'pg_net'),
               exists (select 1 from pg_extension where extname = 'pg_net'),
               to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is not null,
               case when pg_has_role('pg_read_all_settings', 'USAGE')
                 then 'pg_net' = any (string_to_array(replace(replace(
                        current_setting('shared_preload_libraries'), ' ', ''), '"', ''), ','))
                 -- Without the right to read that list: pg_net's settings exist in every
                 -- session only when the server preloads it.
                 else current_setting('pg_net.database_name', true) is not null
               end,
               current_setting('pg_net.database_name', true)
        """
    ).fetchone()
    assert row is not None
    return PgNetReport(
        database=row[0],
        available=row[1],
        installed=row[2],
        net_present=row[3],
        preloaded=row[4],
        served_database=row[5],
    )


def _ensure_net(conn: psycopg.Connection) -> NetPlan:
    return apply_net_plan(conn, plan_net(inspect_pg_net(conn)))


def apply_net_plan(conn: psycopg.Connection, plan: NetPlan) -> NetPlan:
    if plan.warning:
        log.warning("%s", plan.warning)
    if plan.action == "create_extension":
        conn.execute("create extension if not exists pg_net")
    elif plan.action == "install_shim":
        conn.execute((SQL_DIR / "pg_net_shim.sql").read_text())
    return plan


def real_pg_net(database_url: str) -> bool:
    """Does a real pg_net worker deliver this database's requests (so no relay is wanted)?"""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return plan_net(inspect_pg_net(conn)).real


def _ensure_hmac(conn: psycopg.Connection) -> str:
    """extensions.hmac for the signed-webhook trigger: pgcrypto where available (in schema
    ``extensions``, as on hosted Supabase), else a SQL stand-in with the same signature."""
    present = conn.execute(
        "select to_regprocedure('extensions.hmac(bytea, bytea, text)') is not null"
    ).fetchone()
    if present and present[0]:
        return "present"
    installed = conn.execute("select 1 from pg_extension where extname = 'pgcrypto'").fetchone()
    if not installed and _extension_available(conn, "pgcrypto"):
        conn.execute("create schema if not exists extensions")
        conn.execute("create extension pgcrypto with schema extensions")
        return "pgcrypto"
    if installed:
        return "pgcrypto in another schema (the migration says how to move it)"
    conn.execute((SQL_DIR / "pgcrypto_hmac_shim.sql").read_text())
    return "SQL stand-in"


def prepare(conn: psycopg.Connection) -> None:
    """Give a plain Postgres what the migrations expect of a Supabase database."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute((SQL_DIR / "supabase_compat.sql").read_text())
        conn.execute((SQL_DIR / "realtime_schema.sql").read_text())
        log.info("pgmq: %s", _ensure_pgmq(conn))
        plan = _ensure_net(conn)
        log.info("net: %s", "pg_net" if plan.real else "shim (deliver with the relay)")
        log.info("hmac: %s", _ensure_hmac(conn))


class StaleDatabase(RuntimeError):
    """The database's recorded migrations are not the ones in the folder: applying the folder
    would leave it silently running other code than the repository's."""


def _same_text(recorded: list[str], text: str) -> bool:
    """Whether a migration recorded as ``recorded`` was ``text``: this runner keeps the file
    whole; the Supabase CLI keeps it split into statements (trimmed, without the ``;``)."""
    if recorded == [text]:
        return True
    squeeze = str.maketrans("", "", " \t\r\n;")
    return "".join(recorded).translate(squeeze) == text.translate(squeeze)


def check_history(recorded: dict[str, list[str] | None], migrations: list[Migration]) -> None:
    """Refuse a database whose history disagrees with the folder: a recorded version the folder
    lacks (migrated before the history was squashed, or from another branch), or a file whose
    text is no longer what was applied (a migration edited after it landed)."""
    known = {m.version: m for m in migrations}
    unknown = sorted(set(recorded) - set(known))
    if unknown:
        raise StaleDatabase(
            f"this database was migrated with {len(unknown)} migration(s) that are not in"
            f" {MIGRATIONS_DIR} ({', '.join(unknown[:3])}{', ...' if len(unknown) > 3 else ''});"
            " the migrations before 20261207000000 were squashed into one baseline (see"
            " CHANGELOG.md), so it would keep their old functions. Start from a fresh database:"
            " `make clean-data` for the local stack's, a new database elsewhere."
        )
    for version, statements in recorded.items():
        migration = known[version]
        if statements is not None and not _same_text(statements, migration.path.read_text()):
            raise StaleDatabase(
                f"{migration.path.name} is not the text that was applied to this database: a"
                " migration is never edited once it has landed, so this database runs other"
                " code than the file says. Put the change in a new migration (docs/database.md);"
                " for the local stack's database, `make clean-data` starts afresh."
            )


def apply_migrations(conn: psycopg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction, after checking that
    those recorded are still the folder's (``check_history``)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute("create schema if not exists supabase_migrations")
        conn.execute(
            "create table if not exists supabase_migrations.schema_migrations"
            " (version text primary key, statements text[], name text)"
        )
        rows = conn.execute(
            "select version, statements from supabase_migrations.schema_migrations"
        ).fetchall()
        check_history({row[0]: row[1] for row in rows}, migrations)
    applied: list[str] = []
    for migration in migrations:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
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


def configure_webhook(
    conn: psycopg.Connection, url: str, secret: str, max_workers: int | None = None
) -> None:
    """Point the wake-up at the webhook and set the workers' ceiling (private settings;
    hosted Supabase keeps the URL and secret in Vault)."""
    settings = [("job_webhook_url", url), ("job_webhook_secret", secret)]
    if max_workers is not None:
        settings.append(("max_workers", str(max_workers)))
    with conn.transaction():
        for name, value in settings:
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
    max_workers: int | None = None,
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
            configure_webhook(conn, webhook_url, webhook_secret or "", max_workers)
        return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    from devstack.settings import MigrateSettings

    env = MigrateSettings.from_env()
    parser.add_argument("--database-url", default=env.database_url)
    parser.add_argument("--webhook-url")
    parser.add_argument(
        "--webhook-secret",
        default=env.webhook_secret,
        help="the webhook's whsec_ secret (several, space-separated, during a rotation);"
        " generated and printed when --webhook-url is given without one",
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        help="with --webhook-url: the most workers draining at once (process_job's concurrency)",
    )
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="only provide roles, PGMQ and net (for applying the migrations with the Supabase CLI)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    if args.webhook_url and not args.webhook_secret:
        from devstack.config import generate_webhook_secret

        args.webhook_secret = generate_webhook_secret()
        print(f"generated webhook secret (the webhook's WEBHOOK_SECRET): {args.webhook_secret}")
    elif args.webhook_secret and not all(
        part.startswith("whsec_") for part in args.webhook_secret.replace(",", " ").split()
    ):
        parser.error("--webhook-secret takes whsec_<base64> secrets (Standard Webhooks)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        applied = migrate(
            args.database_url,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            max_workers=args.max_workers,
            prepare_only=args.prepare_only,
        )
    except StaleDatabase as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"{len(applied)} migration(s) applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())

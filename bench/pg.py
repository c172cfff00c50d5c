"""The Postgres the benchmark runs on: its own embedded server, or DATABASE_URL's server. Each
system gets a fresh database of its own there (dropped at the end), so no schema meets another."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict

from devstack.postgres import migrate
from devstack.postgres.embedded import embedded
from devstack.services import ROOT

DEFAULT_DATA_DIR = ROOT / ".devstack" / "bench-postgres"
RAW_QUEUE = "bench_raw"


@dataclass(frozen=True)
class Databases:
    """One database a system: ``ours`` (migrated, also holds the raw PGMQ queue) and the peers'."""

    ours: str
    pgqueuer: str
    procrastinate: str


def with_dbname(database_url: str, dbname: str) -> str:
    """``database_url`` naming another database, as a URL (asyncpg takes no key=value form)."""
    params = {k: str(v) for k, v in conninfo_to_dict(database_url).items() if v is not None}
    params["dbname"] = dbname
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", None)
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = params.pop("host", "127.0.0.1")
    port = params.pop("port", "5432")
    name = quote(params.pop("dbname"), safe="")
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{auth}{host}:{port}/{name}{query}"


@contextmanager
def databases(database_url: str | None, data_dir: Path) -> Iterator[Databases]:
    """Fresh databases for a run; the embedded server (when used) is stopped afterwards unless
    it was already running. DATABASE_URL's role needs CREATEDB."""
    server = None
    if database_url is None:
        server = embedded(data_dir)
        already_running = server.is_running()
        server.start()
        admin = server.url
    else:
        already_running = True
        admin = with_dbname(
            database_url, str(conninfo_to_dict(database_url).get("dbname") or "postgres")
        )
    suffix = secrets.token_hex(3)
    names = {system: f"bench_{suffix}_{system}" for system in ("ours", "pgqueuer", "procr")}
    urls = {system: with_dbname(admin, name) for system, name in names.items()}
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'create database "{name}"')
        logging.getLogger("devstack.postgres.migrate").setLevel(logging.WARNING)
        migrate.migrate(urls["ours"])
        with psycopg.connect(urls["ours"], autocommit=True) as conn:
            conn.execute("select pgmq.create(%s)", (RAW_QUEUE,))
        yield Databases(ours=urls["ours"], pgqueuer=urls["pgqueuer"], procrastinate=urls["procr"])
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'drop database if exists "{name}" with (force)')
        if server is not None and not already_running:
            server.stop()

"""Connections for one warm function instance: a small pool, opened on first use.

Sizing: a Lambda instance serves one request at a time and ``submit`` holds one connection per
request, so ``DB_POOL_MAX_SIZE`` is 1 there (serverless.yml); under functions-framework, where
one process serves concurrent requests on threads, it defaults to 10. The pool counts against
the database's connection limit once per instance: see the README's "Connections" section.

Every connection is safe behind a transaction pooler (Supabase's on port 6543, pgbouncer in
transaction mode): each statement or ``transaction()`` block may run on a different server
session, so nothing relies on session state (no SET, temporary tables, session advisory locks or
LISTEN; those belong on a direct connection), and behind one no statement is prepared.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from functions.config import Database
from functions.core.errors import Unavailable
from functions.once import PerProcess

CONNECT_TIMEOUT_S = 5
# psycopg's default: a statement is prepared on the server after its fifth execution.
PREPARE_THRESHOLD = 5


def as_database(database: Database | str) -> Database:
    """``database`` as settings: a bare URL takes the declared defaults (a pool of
    DB_POOL_MAX_SIZE's default, a transaction pooler known by its port 6543)."""
    return Database.at(database) if isinstance(database, str) else database


def connect_options(database: Database) -> dict[str, Any]:
    """Options for every connection to ``database``. Behind a transaction pooler the next
    execution of a prepared statement may reach a session that never prepared it, so nothing
    is prepared there; directly, preparing saves 0.1-0.4 ms a statement (README)."""
    return {
        "prepare_threshold": None if database.behind_transaction_pooler else PREPARE_THRESHOLD,
        "connect_timeout": CONNECT_TIMEOUT_S,
    }


def _close_pools(pools: dict[str, ConnectionPool]) -> None:
    for pool in pools.values():
        pool.close()


_pools: PerProcess[dict[str, ConnectionPool]] = PerProcess(dict, close=_close_pools)
_lock = threading.Lock()


def _configure(conn: psycopg.Connection) -> None:
    conn.autocommit = True


def connect(database: Database | str, application_name: str) -> psycopg.Connection:
    """One autocommit connection of its own, with the same pooler-safe options as the pool's."""
    database = as_database(database)
    return psycopg.connect(
        database.url,
        autocommit=True,
        application_name=application_name,
        **connect_options(database),
    )


def pool_for(database: Database | str) -> ConnectionPool:
    """The process's pool for ``database``, made (and opening) on first use."""
    database = as_database(database)
    with _lock:
        pools = _pools.get()
        pool = pools.get(database.url)
        if pool is None:
            pool = ConnectionPool(
                database.url,
                min_size=1,
                max_size=database.pool_max_size,
                configure=_configure,
                # A server restart leaves dead sockets in the pool; check before handing one out.
                check=ConnectionPool.check_connection,
                kwargs={**connect_options(database), "application_name": "supajobs-functions"},
                open=False,
            )
            pool.open(wait=False)
            pools[database.url] = pool
        return pool


@contextmanager
def connection(database: Database | str, timeout_s: float = 5.0) -> Iterator[psycopg.Connection]:
    """A pooled autocommit connection; any failure to reach Postgres becomes Unavailable."""
    try:
        with pool_for(database).connection(timeout=timeout_s) as conn:
            yield conn
    except PoolTimeout:
        raise Unavailable("the database is not reachable right now; try again shortly") from None
    except psycopg.OperationalError:
        raise Unavailable("the database connection failed; try again shortly") from None

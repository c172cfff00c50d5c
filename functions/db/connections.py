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

from functions.config import behind_transaction_pooler, pool_max_size
from functions.core.errors import Unavailable
from functions.once import PerProcess

CONNECT_TIMEOUT_S = 5
# psycopg's default: a statement is prepared on the server after its fifth execution.
PREPARE_THRESHOLD = 5


def connect_options(database_url: str) -> dict[str, Any]:
    """Options for every connection to ``database_url``. Behind a transaction pooler the next
    execution of a prepared statement may reach a session that never prepared it, so nothing
    is prepared there; directly, preparing saves 0.1-0.4 ms a statement (README)."""
    pooled = behind_transaction_pooler(database_url)
    return {
        "prepare_threshold": None if pooled else PREPARE_THRESHOLD,
        "connect_timeout": CONNECT_TIMEOUT_S,
    }


def _close_pools(pools: dict[str, ConnectionPool]) -> None:
    for pool in pools.values():
        pool.close()


_pools: PerProcess[dict[str, ConnectionPool]] = PerProcess(dict, close=_close_pools)
_lock = threading.Lock()


def _configure(conn: psycopg.Connection) -> None:
    conn.autocommit = True


def connect(database_url: str, application_name: str) -> psycopg.Connection:
    """One autocommit connection of its own, with the same pooler-safe options as the pool's."""
    return psycopg.connect(
        database_url,
        autocommit=True,
        application_name=application_name,
        **connect_options(database_url),
    )


def pool_for(database_url: str, max_size: int | None = None) -> ConnectionPool:
    with _lock:
        pools = _pools.get()
        pool = pools.get(database_url)
        if pool is None:
            size = pool_max_size() if max_size is None else max_size
            pool = ConnectionPool(
                database_url,
                min_size=1,
                max_size=size,
                configure=_configure,
                # A server restart leaves dead sockets in the pool; check before handing one out.
                check=ConnectionPool.check_connection,
                kwargs={**connect_options(database_url), "application_name": "supajobs-functions"},
                open=False,
            )
            pool.open(wait=False)
            pools[database_url] = pool
        return pool


@contextmanager
def connection(database_url: str, timeout_s: float = 5.0) -> Iterator[psycopg.Connection]:
    """A pooled autocommit connection; any failure to reach Postgres becomes Unavailable."""
    try:
        with pool_for(database_url).connection(timeout=timeout_s) as conn:
            yield conn
    except PoolTimeout:
        raise Unavailable("the database is not reachable right now; try again shortly") from None
    except psycopg.OperationalError:
        raise Unavailable("the database connection failed; try again shortly") from None

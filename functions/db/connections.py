"""Connections for one warm function instance: a small pool, opened on first use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from functions.core.errors import Unavailable

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def _configure(conn: psycopg.Connection) -> None:
    conn.autocommit = True


def pool_for(database_url: str, max_size: int = 10) -> ConnectionPool:
    with _lock:
        pool = _pools.get(database_url)
        if pool is None:
            pool = ConnectionPool(
                database_url,
                min_size=1,
                max_size=max_size,
                configure=_configure,
                # A server restart leaves dead sockets in the pool; check before handing one out.
                check=ConnectionPool.check_connection,
                kwargs={"connect_timeout": 5, "application_name": "supajobs-functions"},
                open=False,
            )
            pool.open(wait=False)
            _pools[database_url] = pool
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


def close_all() -> None:
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()

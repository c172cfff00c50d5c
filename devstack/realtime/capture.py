"""Installing the change capture (devstack/realtime/capture.sql) into a database."""

from __future__ import annotations

from typing import Any

import psycopg

from devstack.realtime import queries

Conn = psycopg.AsyncConnection[Any]


async def install_capture_async(conn: Conn) -> None:
    """Install (or refresh) the capture triggers; ``conn`` must be in autocommit mode."""
    async with conn.transaction():
        await conn.execute(queries.QUIET)
        await conn.execute(queries.INSTALL_LOCK)
        await conn.execute(queries.CAPTURE_SQL)


def install_capture(database_url: str) -> None:
    """Install the capture triggers on every table in the ``supabase_realtime`` publication."""
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute(queries.QUIET)
        conn.execute(queries.INSTALL_LOCK)
        conn.execute(queries.CAPTURE_SQL)

"""Connections for the local stand-ins' long-lived async listeners."""

from __future__ import annotations

import psycopg


async def connect_long_lived(database_url: str, application_name: str) -> psycopg.AsyncConnection:
    """An autocommit connection whose TCP keepalives notice a database host that vanished
    without closing the connection (a LISTEN socket otherwise waits forever)."""
    return await psycopg.AsyncConnection.connect(
        database_url,
        autocommit=True,
        application_name=application_name,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )

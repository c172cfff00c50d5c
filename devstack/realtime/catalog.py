"""Table descriptions from the Postgres catalog, cached by table oid."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from devstack.realtime import queries
from devstack.realtime.changes import Change, Column, TableInfo


def _table_info(row: tuple[Any, ...]) -> TableInfo:
    oid, schema, name, columns, primary_key, replica_identity, identity_index = row
    cols = tuple(Column(c["name"], c["type"]) for c in columns)
    identity: tuple[str, ...]
    if replica_identity == "f":
        identity = tuple(c.name for c in cols)
    elif replica_identity == "i":
        identity = tuple(identity_index)
    elif replica_identity == "d":
        identity = tuple(primary_key)
    else:
        identity = ()
    return TableInfo(int(oid), schema, name, cols, tuple(primary_key), identity)


class Catalog:
    """Looks tables up; a change whose columns differ from the cached ones refreshes them."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._by_oid: dict[int, TableInfo] = {}

    async def by_name(self, schema: str, name: str) -> TableInfo | None:
        """The table's current description (always read afresh: joins are rare)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(queries.TABLE_BY_NAME, {"schema": schema, "name": name})
            row = await cur.fetchone()
        if row is None:
            return None
        table = _table_info(row)
        self._by_oid[table.oid] = table
        return table

    async def for_change(self, change: Change) -> TableInfo | None:
        """The table a change was captured from, as it is now."""
        cached = self._by_oid.get(change.relid)
        if cached is not None and cached.has_columns(change.row):
            return cached
        async with self._pool.connection() as conn:
            cur = await conn.execute(queries.TABLE_BY_OID, {"oid": change.relid})
            row = await cur.fetchone()
        if row is None:
            self._by_oid.pop(change.relid, None)
            return None
        table = _table_info(row)
        self._by_oid[table.oid] = table
        return table

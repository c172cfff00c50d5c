"""Row-level security for change events: which identities may see which changes.

Postgres decides: for each identity, in one transaction under ``set local role`` and its JWT
claims, the changed rows are looked up by primary key in their tables, so the policies in force
apply exactly as they would to a ``select``. This is how Supabase Realtime checks too, and it
shares its limit: the row is checked as it is at delivery, a few milliseconds after commit, so an
INSERT or UPDATE whose row is deleted by then is not delivered. A deleted row can no longer be
looked up; its DELETE goes to every role that may select from the table at all (as on Supabase).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from devstack.realtime import queries
from devstack.realtime.auth import Identity
from devstack.realtime.changes import DELETE, Change, TableInfo

Conn = psycopg.AsyncConnection[Any]


async def _can_select(conn: Conn, role: str, table: TableInfo) -> bool:
    cur = await conn.execute(queries.CAN_SELECT, {"role": role, "oid": table.oid})
    row = await cur.fetchone()
    return bool(row and row[0])


async def _visible_rows(
    conn: Conn, identity: Identity, table: TableInfo, changes: list[Change]
) -> set[int]:
    sub = identity.claims.get("sub")
    become = {
        "role": identity.role,
        "claims": identity.claims_json,
        "sub": sub if isinstance(sub, str) else None,
    }
    rows = Jsonb([change.row for change in changes])
    try:
        async with conn.transaction():
            await conn.execute(queries.BECOME, become)
            cur = await conn.execute(queries.visible_rows(table), {"rows": rows})
            positions = [int(r[0]) for r in await cur.fetchall()]
    except psycopg.errors.InsufficientPrivilege:  # a grant revoked since _can_select
        return set()
    return {changes[p - 1].id for p in positions}


async def _check_identity(
    conn: Conn, identity: Identity, work: list[tuple[Change, TableInfo]]
) -> set[int]:
    by_table: dict[int, tuple[TableInfo, list[Change]]] = {}
    deletes: list[tuple[Change, TableInfo]] = []
    for change, table in work:
        if change.type == DELETE:
            deletes.append((change, table))
        else:
            by_table.setdefault(table.oid, (table, []))[1].append(change)
    visible: set[int] = set()
    selectable: dict[int, bool] = {}
    for table, changes in by_table.values():
        selectable[table.oid] = await _can_select(conn, identity.role, table)
        if selectable[table.oid]:
            visible |= await _visible_rows(conn, identity, table, changes)
    for change, table in deletes:
        if table.oid not in selectable:
            selectable[table.oid] = await _can_select(conn, identity.role, table)
        if selectable[table.oid]:
            visible.add(change.id)
    return visible


async def visible_changes(
    pool: AsyncConnectionPool[Any],
    wanted: Iterable[tuple[Identity, Change, TableInfo]],
) -> set[tuple[tuple[str, str], int]]:
    """The ``(identity key, change id)`` pairs whose identity may see the change."""
    work: defaultdict[tuple[str, str], list[tuple[Change, TableInfo]]] = defaultdict(list)
    identities: dict[tuple[str, str], Identity] = {}
    seen: set[tuple[tuple[str, str], int]] = set()
    for identity, change, table in wanted:
        if (identity.key, change.id) in seen:
            continue
        seen.add((identity.key, change.id))
        identities[identity.key] = identity
        work[identity.key].append((change, table))
    result: set[tuple[tuple[str, str], int]] = set()
    if not work:
        return result
    async with pool.connection() as conn:
        for key, items in work.items():
            for change_id in await _check_identity(conn, identities[key], items):
                result.add((key, change_id))
    return result

"""Every statement the gateway runs, in one place. Values are bound parameters; the only
identifiers composed in are the catalog's own, quoted with ``psycopg.sql.Identifier``."""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

from devstack.realtime.changes import TableInfo

CAPTURE_SQL = (Path(__file__).resolve().parent / "capture.sql").read_bytes()
# Any constant works; it keeps two gateways from installing the triggers at once.
INSTALL_LOCK = "select pg_advisory_xact_lock(7302911005)"
QUIET = "set local client_min_messages = warning"  # "schema already exists, skipping"

CHANNEL = "realtime_local_changes"
LISTEN = "listen realtime_local_changes"

FETCH_CHANGES = """
select id, relid::int8, schema_name, table_name, op, record, old_record, commit_timestamp
from realtime_local.changes
where id = any(%(ids)s)
"""

HOLD_LEASE = """
insert into realtime_local.listeners (id, alive_until)
values (%(id)s, now() + %(ttl)s::interval)
on conflict (id) do update set alive_until = excluded.alive_until
"""

RELEASE_LEASE = "delete from realtime_local.listeners where id = %(id)s"

PRUNE_CHANGES = "delete from realtime_local.changes where created_at < now() - %(age)s::interval"

PRUNE_LEASES = "delete from realtime_local.listeners where alive_until < now()"

_TABLE_INFO = """
select c.oid::int8, n.nspname::text, c.relname::text,
  coalesce((
    select jsonb_agg(jsonb_build_object('name', a.attname, 'type', t.typname) order by a.attnum)
    from pg_attribute a join pg_type t on t.oid = a.atttypid
    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  ), '[]'::jsonb) as columns,
  array(
    select a.attname::text
    from pg_index i
    cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
    where i.indrelid = c.oid and i.indisprimary
    order by k.ord
  ) as primary_key,
  c.relreplident::text as replica_identity,
  array(
    select a.attname::text
    from pg_index i
    cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
    where i.indrelid = c.oid and i.indisreplident
    order by k.ord
  ) as identity_index
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
"""

TABLE_BY_OID = _TABLE_INFO + "where c.oid = %(oid)s::oid"

TABLE_BY_NAME = (
    _TABLE_INFO
    + "where n.nspname = %(schema)s and c.relname = %(name)s"
    + " and c.relkind in ('r', 'p', 'v', 'm', 'f')"
)

CAN_SELECT = "select has_table_privilege(%(role)s, %(oid)s::oid, 'SELECT')"

# For the rest of the transaction, act as the subscriber: its role (as ``set local role``; the
# name comes from the gateway's allow-list) and its JWT claims, which policies may read.
BECOME = """
select set_config('role', %(role)s, true),
       set_config('request.jwt.claims', %(claims)s, true),
       set_config('request.jwt.claim.role', %(role)s, true),
       set_config('request.jwt.claim.sub', coalesce(%(sub)s, ''), true)
"""


def _table(table: TableInfo) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.name))


def visible_rows(table: TableInfo) -> sql.Composed:
    """Which of the captured rows (a JSON array) the current role can select now.

    A row is looked up by its primary key (by all its values when the table has none), so
    row-level security is evaluated by Postgres itself. Returns the 1-based positions.
    """
    match: sql.Composable
    if table.primary_key:
        columns = [sql.Identifier(name) for name in table.primary_key]
        match = sql.SQL("({}) = ({})").format(
            sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in columns),
            sql.SQL(", ").join(sql.SQL("r.{}").format(c) for c in columns),
        )
    else:
        match = sql.SQL("to_jsonb(t) = c.rec")
    return sql.SQL(
        "select c.ord from jsonb_array_elements(%(rows)s) with ordinality as c(rec, ord)"
        " cross join lateral jsonb_populate_record(null::{table}, c.rec) as r"
        " where exists (select 1 from {table} as t where {match})"
    ).format(table=_table(table), match=match)

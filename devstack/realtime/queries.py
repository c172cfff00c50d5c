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
MESSAGES_CHANNEL = "realtime_local_messages"
LISTEN_MESSAGES = "listen realtime_local_messages"

# Broadcast from the database (realtime.messages, as the Realtime service reads it).
FETCH_MESSAGES = """
select id, topic, event, payload, private,
       (extract(epoch from inserted_at) * 1000)::int8 as inserted_ms
from realtime.messages
where id = any(%(ids)s::uuid[]) and extension = 'broadcast' and payload is not null
"""

# Realtime's replay: the newest ``limit`` private messages of the topic since ``since`` (ms
# since the epoch, UTC), oldest first; nothing from more than a minute ahead of now.
REPLAY_MESSAGES = """
select id, topic, event, payload, private,
       (extract(epoch from inserted_at) * 1000)::int8 as inserted_ms
from (
  select * from realtime.messages
  where topic = %(topic)s and private is true and extension = 'broadcast'
    and payload is not null
    and inserted_at >= (to_timestamp(%(since)s / 1000.0) at time zone 'UTC')
    and inserted_at < (now() at time zone 'UTC') + interval '1 minute'
  order by inserted_at desc
  limit %(limit)s
) newest
order by inserted_at, id
"""

# Realtime's join check for a private channel: a probe row of the topic, inserted as the
# gateway, then looked for as the subscriber (role, claims, realtime.topic); rolled back.
INSERT_PROBE = """
insert into realtime.messages (id, topic, extension, private)
values (%(id)s, %(topic)s, 'broadcast', true)
"""
BECOME_FOR_TOPIC = """
select set_config('role', %(role)s, true),
       set_config('realtime.topic', %(topic)s, true),
       set_config('request.jwt.claims', %(claims)s, true),
       set_config('request.jwt.claim.sub', coalesce(%(sub)s, ''), true),
       set_config('request.jwt.claim.role', %(role)s, true)
"""
PROBE_VISIBLE = "select count(*) from realtime.messages where id = %(id)s"

# The day partitions of realtime.messages the Realtime service keeps (today and three ahead),
# and the purge of those older than three days.
MESSAGE_PARTITIONS = """
do $$
declare
  v_day date;
  v_name text;
begin
  if not exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = 'realtime' and c.relname = 'messages' and c.relkind = 'p') then
    return;
  end if;
  for v_day in select generate_series(current_date, current_date + 3, interval '1 day')::date loop
    v_name := 'messages_' || to_char(v_day, 'YYYY_MM_DD');
    if to_regclass('realtime.' || v_name) is null then
      execute format('create table realtime.%I partition of realtime.messages'
                     ' for values from (%L) to (%L)', v_name, v_day, v_day + 1);
    end if;
  end loop;
  for v_name in
    select c.relname from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'realtime.messages'::regclass
      and c.relname ~ '^messages_[0-9]{4}_[0-9]{2}_[0-9]{2}$'
      and to_date(substr(c.relname, 10), 'YYYY_MM_DD') < current_date - 3
  loop
    execute format('drop table if exists realtime.%I', v_name);
  end loop;
exception when insufficient_privilege then
  raise notice 'realtime_local: cannot keep the partitions of realtime.messages';
end
$$
"""

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

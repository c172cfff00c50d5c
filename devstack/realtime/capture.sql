-- Change capture for the local Realtime gateway (a stand-in for Supabase Realtime's WAL reader).
-- A row trigger on every table in the supabase_realtime publication copies each change into an
-- unlogged table and notifies its id; NOTIFY payloads are capped at 8000 bytes, so the gateway
-- fetches the row itself. Notifications arrive at commit, in commit order, and never for a
-- transaction that rolled back. Idempotent: the gateway runs it every time it connects.
create schema if not exists realtime_local;
revoke all on schema realtime_local from public;

create unlogged table if not exists realtime_local.changes (
  id               bigint generated always as identity primary key,
  relid            oid not null,
  schema_name      text not null,
  table_name       text not null,
  op               text not null,
  record           jsonb,
  old_record       jsonb,
  commit_timestamp text not null,
  created_at       timestamptz not null default now()
);
create index if not exists changes_created_at on realtime_local.changes (created_at);

-- Gateways hold a lease here while they run; with no live lease nothing is captured, so a
-- database without a gateway pays one lookup per row and stores nothing.
create unlogged table if not exists realtime_local.listeners (
  id          uuid primary key,
  alive_until timestamptz not null
);

create or replace function realtime_local.capture() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_id bigint;
begin
  if not exists (select 1 from realtime_local.listeners where alive_until > clock_timestamp()) then
    return null;
  end if;
  insert into realtime_local.changes
    (relid, schema_name, table_name, op, record, old_record, commit_timestamp)
  values (
    tg_relid, tg_table_schema, tg_table_name, tg_op,
    case when tg_op <> 'DELETE' then to_jsonb(new) end,
    case when tg_op <> 'INSERT' then to_jsonb(old) end,
    to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
  returning id into v_id;
  perform pg_notify('realtime_local_changes', v_id::text);
  return null;
end
$$;
revoke all on function realtime_local.capture() from public;

-- Puts the capture trigger on every published table that lacks it and takes it off tables that
-- left the publication.
create or replace function realtime_local.sync_triggers() returns void
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_rel regclass;
begin
  for v_rel in
    select c.oid::regclass
    from pg_publication_tables pt
    join pg_namespace n on n.nspname = pt.schemaname
    join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
    where pt.pubname = 'supabase_realtime'
      and c.relkind in ('r', 'p')
      and not exists (select 1 from pg_trigger t
                      where t.tgrelid = c.oid and t.tgname = 'realtime_local_capture')
  loop
    execute format(
      'create trigger realtime_local_capture after insert or update or delete on %s'
      ' for each row execute function realtime_local.capture()', v_rel);
  end loop;

  for v_rel in
    select t.tgrelid::regclass
    from pg_trigger t
    where t.tgname = 'realtime_local_capture'
      and not t.tgisinternal
      and t.tgparentid = 0
      and not exists (select 1 from pg_publication_tables pt
                      join pg_namespace n on n.nspname = pt.schemaname
                      join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
                      where pt.pubname = 'supabase_realtime' and c.oid = t.tgrelid)
  loop
    execute format('drop trigger if exists realtime_local_capture on %s', v_rel);
  end loop;
end
$$;
revoke all on function realtime_local.sync_triggers() from public;

create or replace function realtime_local.sync_on_ddl() returns event_trigger
language plpgsql
as $$
begin
  perform realtime_local.sync_triggers();
end
$$;

-- Follow ALTER PUBLICATION as it happens. Event triggers need a superuser; without one the
-- gateway still syncs each time it connects.
do $$
begin
  if not exists (select 1 from pg_event_trigger where evtname = 'realtime_local_sync') then
    create event trigger realtime_local_sync on ddl_command_end
      when tag in ('CREATE PUBLICATION', 'ALTER PUBLICATION')
      execute function realtime_local.sync_on_ddl();
  end if;
exception when insufficient_privilege then
  raise notice 'realtime_local: no event trigger (needs a superuser); publication changes are picked up when the gateway reconnects';
end
$$;

select realtime_local.sync_triggers();

-- Broadcast from the database: hosted Realtime follows inserts into realtime.messages by logical
-- replication; here an insert notifies the message's id (delivered at commit, in commit order,
-- never for a rollback), and the gateway reads the row. Only while a gateway holds a lease.
-- The message itself rides in the notification when it fits (as the replication stream carries
-- the row upstream), so delivery costs the gateway no query; a larger one is fetched by its id.
create or replace function realtime_local.notify_message() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_text text;
begin
  if new.extension = 'broadcast' and new.payload is not null
     and exists (select 1 from realtime_local.listeners where alive_until > clock_timestamp()) then
    v_text := json_build_object(
      'id', new.id, 'topic', new.topic, 'event', new.event, 'private', new.private,
      'inserted_ms', (extract(epoch from new.inserted_at) * 1000)::int8,
      'payload', new.payload)::text;
    perform pg_notify('realtime_local_messages',
                      case when octet_length(v_text) < 7900 then v_text else new.id::text end);
  end if;
  return null;
end
$$;
revoke all on function realtime_local.notify_message() from public;

do $$
begin
  if to_regclass('realtime.messages') is not null
     and not exists (select 1 from pg_trigger
                     where tgrelid = 'realtime.messages'::regclass
                       and tgname = 'realtime_local_messages' and tgparentid = 0) then
    create trigger realtime_local_messages after insert on realtime.messages
      for each row execute function realtime_local.notify_message();
  end if;
exception when insufficient_privilege then
  raise notice 'realtime_local: cannot follow realtime.messages (needs its owner); no Broadcast from the database';
end
$$;

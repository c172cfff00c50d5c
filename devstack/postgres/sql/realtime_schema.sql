-- Supabase Realtime's own objects in a project database, as the Realtime service's tenant
-- migrations leave them (supabase/realtime, priv/repo/tenant_schema/realtime/: schema.sql,
-- tables/messages.sql, functions/send.sql, topic.sql, broadcast_changes.sql, and
-- lib/realtime/tenants/repo/migrations/20231204144023_set_required_grants.ex), reduced to
-- Broadcast from the database. Hosted projects and `supabase start` databases have the real
-- ones, so nothing is created where realtime.messages exists. Run by a superuser (the migration
-- runner on a plain Postgres, supabase_admin on the hosted-like cluster). A project migration may
-- rely on: USAGE on schema realtime; SELECT, INSERT, UPDATE on realtime.messages for postgres and
-- the API roles, under row-level security that is on and has no policy (so nobody reads or writes
-- a message until the project adds policies); realtime.send/topic/broadcast_changes executable by
-- all; and postgres a member of supabase_realtime_admin, the owner (which is what lets a
-- migration run as postgres create policies on realtime.messages).
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit;
  end if;
  if to_regclass('realtime.messages') is not null then
    return;
  end if;

  create schema if not exists realtime;
  grant usage on schema realtime to postgres, anon, authenticated, service_role;
  revoke all on schema realtime from supabase_realtime_admin;
  grant create, usage on schema realtime to supabase_realtime_admin with grant option;

  create table realtime.messages (
    topic          text not null,
    extension      text not null,
    payload        jsonb,
    event          text,
    private        boolean default false,
    updated_at     timestamp without time zone not null default now(),
    inserted_at    timestamp without time zone not null default now(),
    id             uuid not null default gen_random_uuid(),
    binary_payload bytea,
    constraint messages_payload_exclusive check (payload is null or binary_payload is null),
    constraint messages_pkey primary key (id, inserted_at)
  ) partition by range (inserted_at);
  alter table realtime.messages enable row level security;
  alter table realtime.messages owner to supabase_realtime_admin;
  create index messages_inserted_at_topic_index on only realtime.messages
    (inserted_at desc, topic) where extension = 'broadcast' and private is true;
  grant select, insert, update on realtime.messages to postgres, anon, authenticated, service_role;

  -- The topic a join is being authorised for (Realtime sets it before asking the policies).
  create function realtime.topic() returns text
  language sql stable
  as $fn$ select nullif(current_setting('realtime.topic', true), '')::text $fn$;
  alter function realtime.topic() owner to supabase_realtime_admin;

  -- Runs with the caller's rights (no security definer, as upstream): the row goes in under
  -- the caller's grants and policies. A failure is a warning, never the caller's error.
  create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
  returns void
  language plpgsql
  as $fn$
  declare
    v_id uuid := gen_random_uuid();
  begin
    begin
      perform set_config('realtime.topic', topic, true);
      insert into realtime.messages (id, payload, event, topic, private, extension)
      values (v_id,
              case when payload ? 'id' then payload else jsonb_set(payload, '{id}', to_jsonb(v_id)) end,
              event, topic, private, 'broadcast');
    exception when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
    end;
  end
  $fn$;
  alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;

  create function realtime.broadcast_changes(
    topic_name text, event_name text, operation text, table_name text, table_schema text,
    new record, old record, level text default 'ROW'
  ) returns void
  language plpgsql
  as $fn$
  begin
    if level = 'STATEMENT' then
      raise exception 'function can only be triggered for each row, not for each statement';
    end if;
    if operation not in ('INSERT', 'UPDATE', 'DELETE') then
      raise exception 'Unexpected operation type: %', operation;
    end if;
    perform realtime.send(
      jsonb_build_object('old_record', old, 'record', new, 'operation', operation,
                         'table', table_name, 'schema', table_schema),
      event_name, topic_name);
  end
  $fn$;
  alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
    owner to supabase_realtime_admin;
end
$$;

-- The day partitions the Realtime service keeps ahead of time (Realtime.Tenants.Janitor):
-- without one for today, realtime.send only warns and the message is gone. The local gateway
-- keeps them current while it runs; this covers a database with no gateway (the SQL tests).
do $$
declare
  v_day date;
begin
  if not exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = 'realtime' and c.relname = 'messages' and c.relkind = 'p') then
    return;
  end if;
  for v_day in select generate_series(current_date - 1, current_date + 3, interval '1 day')::date loop
    execute format(
      'create table if not exists realtime.%I partition of realtime.messages for values from (%L) to (%L)',
      'messages_' || to_char(v_day, 'YYYY_MM_DD'), v_day, v_day + 1);
    execute format('alter table realtime.%I owner to supabase_realtime_admin',
                   'messages_' || to_char(v_day, 'YYYY_MM_DD'));
  end loop;
end
$$;

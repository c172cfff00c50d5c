-- The roles of a hosted Supabase project, as its image leaves them (supabase/postgres,
-- migrations/db). Run by the bootstrap superuser supabase_admin on a cluster of our own: roles
-- are cluster-wide, and on hosted projects `postgres` is not a superuser.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'postgres') then
    create role postgres;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;  -- init-scripts/00000000000000-initial-schema.sql
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_functions_admin') then
    -- migrations/20240822021428_enable_webhooks_by_default.sql
    create role supabase_functions_admin login noinherit createrole noreplication;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
    -- supabase/realtime: the owner of schema realtime's objects (messages, send, topic)
    create role supabase_realtime_admin nologin noinherit;
  end if;
end
$$;
-- migrations/10000000000000_demote-postgres.sql
alter role postgres nosuperuser createdb createrole login replication bypassrls;
-- migrations/20230529180330_alter_api_roles_for_inherit.sql
alter role anon inherit;
alter role authenticated inherit;
alter role service_role inherit;
grant anon, authenticated, service_role to authenticator;
-- migrations/20230201083204_grant_auth_roles_to_postgres.sql
grant anon, authenticated, service_role to postgres;
grant supabase_functions_admin to postgres;
-- A cluster dump of a hosted project: `GRANT supabase_realtime_admin TO postgres WITH INHERIT
-- TRUE GRANTED BY supabase_admin` (what lets a migration add policies on realtime.messages).
grant supabase_realtime_admin to postgres;
-- migrations/20230306081037_grant_pg_monitor_to_postgres.sql and
-- migrations/20240606060239_grant_predefined_roles_to_postgres.sql
grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;
-- init-scripts/00000000000003-post-setup.sql
alter role postgres set search_path to "$user", public, extensions;

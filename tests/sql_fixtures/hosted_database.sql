-- One database as a hosted Supabase project has it before any project migration, reduced to what
-- this project touches. Run by supabase_admin in a database owned by postgres. Each statement
-- names the supabase/postgres file it follows (migrations/db/...). Vault, auth and storage are
-- left out: the migrations fall back to private.settings where Vault is absent.

-- The init scripts ran as `postgres` while it was still a superuser, so what they created is
-- owned by postgres (init-scripts/00000000000000-initial-schema.sql, migrate.sh).
set role postgres;
create publication supabase_realtime;
create schema if not exists extensions;
-- pgcrypto lives in `extensions` on hosted projects. The embedded wheel is built without it, so
-- there the schema stays empty (uuid-ossp is left out: nothing here uses it).
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'pgcrypto') then
    create extension if not exists pgcrypto with schema extensions;
  end if;
end
$$;
grant usage on schema public to postgres, anon, authenticated, service_role;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
-- Every table, function and sequence postgres creates in public is open to the API roles unless
-- a migration revokes it: the migrations must (and do) revoke what the page may not touch.
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;
reset role;

alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;

-- The auth schema's helper that RLS policies call, owned by supabase_admin as on hosted projects
-- (init-scripts/00000000000001-auth-schema.sql): the user id from the request's JWT claims, in
-- the per-claim setting older PostgREST used or the claims document newer versions set.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

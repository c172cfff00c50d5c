-- Extensions the job system stands on: pgmq (the queue), pg_net (the wake-up call) and pgcrypto
-- (the wake-up's signature), with the Supabase API roles.
-- Hosted Supabase ships all three as extensions that the migrating role (`postgres`, not a
-- superuser there) may create: supautils creates them as supabase_admin on its behalf and then
-- hands pgmq's members to postgres (supabase/postgres, pgmq/after-create.sql), but not its schema.
-- A plain Postgres has none of them: there the migration runner (python -m devstack.postgres.migrate)
-- first installs PGMQ from the `pgmq` package's SQL, a `net` schema with pg_net's interface and
-- extensions.hmac, and this file only checks for them.
do $$
declare
  v_owner text;
  v_schema text;
begin
  if to_regnamespace('pgmq') is null
     and exists (select 1 from pg_available_extensions where name = 'pgmq') then
    -- pgmq.create makes tables in schema pgmq, so the migrating role must own that schema.
    -- CREATE EXTENSION would create it as supabase_admin (pgmq's control file names the schema),
    -- leaving postgres without even USAGE on it; created here first, it is postgres's, as when
    -- the dashboard enables Queues.
    create schema pgmq;
    begin
      create extension pgmq with schema pgmq;
    exception when ambiguous_function then
      -- supabase/postgres#1867: some PG 17 images' pgmq after-create script fails this way.
      raise exception 'creating the pgmq extension failed in the platform''s after-create script: %', sqlerrm
        using hint = 'a known fault of some Supabase Postgres 17 images (supabase/postgres#1867): '
                     'enable Queues in the dashboard (Integrations > Queues), then apply the migrations again';
    end;
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null
     and exists (select 1 from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net;
  end if;

  if to_regnamespace('pgmq') is null then
    raise exception 'the pgmq schema is missing: enable the pgmq extension, or run the migration runner (python -m devstack.postgres.migrate), which installs it from SQL';
  end if;
  if not has_schema_privilege('pgmq', 'CREATE') then
    select nspowner::regrole::text into v_owner from pg_namespace where nspname = 'pgmq';
    raise exception 'role % may not create tables in schema pgmq (owned by %), so the work queue cannot be made', current_user, v_owner
      using hint = 'pgmq was enabled before its schema existed, so the platform''s superuser owns the schema and no project role can use it; '
                   'only the schema''s owner can fix that (alter schema pgmq owner to postgres). See docs: "Deploying".';
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    raise exception 'net.http_post is missing: enable the pg_net extension, or run the migration runner (python -m devstack.postgres.migrate), which installs a compatible net schema';
  end if;
  if (select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role')) < 3 then
    raise exception 'the Supabase roles anon, authenticated and service_role are missing: run the migration runner, which creates them on a plain Postgres';
  end if;

  -- HMAC comes from pgcrypto, which hosted Supabase installs in schema `extensions`.
  if to_regprocedure('extensions.hmac(bytea, bytea, text)') is null then
    select n.nspname into v_schema
    from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pgcrypto';
    if v_schema is not null then
      raise exception 'pgcrypto is installed in schema %, but the wake-up signs with extensions.hmac: move it with "alter extension pgcrypto set schema extensions"', v_schema;
    end if;
    if not exists (select 1 from pg_available_extensions where name = 'pgcrypto') then
      raise exception 'extensions.hmac is missing and pgcrypto is not available: enable pgcrypto in schema extensions, or run the migration runner (python -m devstack.postgres.migrate), which provides it';
    end if;
    if to_regnamespace('extensions') is null then
      create schema extensions;
    end if;
    create extension pgcrypto with schema extensions;
  end if;
end
$$;

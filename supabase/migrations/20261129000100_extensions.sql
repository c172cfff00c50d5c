-- Extensions the job system stands on.
-- Hosted Supabase ships pgmq and pg_net as extensions, which the migrating role (`postgres`, not a
-- superuser there) may create: supautils creates them as supabase_admin on its behalf and then
-- hands pgmq's members to postgres (supabase/postgres, pgmq/after-create.sql), but not its schema.
-- A plain Postgres has neither: there the migration runner (python -m devstack.migrate) first
-- installs PGMQ from the `pgmq` package's SQL and a `net` schema with pg_net's interface, and this
-- file only checks for them.
do $$
declare
  v_owner text;
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
    raise exception 'the pgmq schema is missing: enable the pgmq extension, or run the migration runner (python -m devstack.migrate), which installs it from SQL';
  end if;
  if not has_schema_privilege('pgmq', 'CREATE') then
    select nspowner::regrole::text into v_owner from pg_namespace where nspname = 'pgmq';
    raise exception 'role % may not create tables in schema pgmq (owned by %), so the work queue cannot be made', current_user, v_owner
      using hint = 'pgmq was enabled before its schema existed, so the platform''s superuser owns the schema and no project role can use it; '
                   'only the schema''s owner can fix that (alter schema pgmq owner to postgres). See the README, "Deploying".';
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    raise exception 'net.http_post is missing: enable the pg_net extension, or run the migration runner (python -m devstack.migrate), which installs a compatible net schema';
  end if;
  if (select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role')) < 3 then
    raise exception 'the Supabase roles anon, authenticated and service_role are missing: run the migration runner, which creates them on a plain Postgres';
  end if;
end
$$;

select pgmq.create('work_queue')
where not exists (select 1 from pgmq.list_queues() where queue_name = 'work_queue');

-- The queue is the service role's business only: nothing in it is for the page. Only the schema's
-- owner can revoke, so this runs where the migrating role owns it (elsewhere REVOKE only warns).
do $$
begin
  if pg_has_role((select nspowner from pg_namespace where nspname = 'pgmq'), 'USAGE') then
    revoke all on schema pgmq from public, anon, authenticated;
  end if;
end
$$;

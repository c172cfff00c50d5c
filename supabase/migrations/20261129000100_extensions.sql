-- Extensions the job system stands on.
-- Hosted Supabase ships pgmq and pg_net as extensions. A plain Postgres has neither: there the
-- project's migration runner (python -m devstack.migrate) first installs PGMQ from the `pgmq`
-- package's SQL and a `net` schema with pg_net's interface, and this file only checks for them.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'pgmq') then
    create extension if not exists pgmq;
  end if;
  if exists (select 1 from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net;
  end if;

  if to_regnamespace('pgmq') is null then
    raise exception 'the pgmq schema is missing: enable the pgmq extension, or run the migration runner (python -m devstack.migrate), which installs it from SQL';
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

-- The queue is the service role's business only: nothing in it is for the page.
revoke all on schema pgmq from anon, authenticated;

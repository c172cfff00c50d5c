-- The kinds of task workers can run, with the payload each takes (a JSON Schema subset, see
-- functions/core/schemas.py) and its time limit. Each worker publishes its registry here at cold
-- start (private.publish_kinds); the submit function reads it to refuse an unknown kind or a
-- payload that does not match before anything is stored, without importing any task's code.
create table if not exists public.task_kinds (
  kind            text primary key
                  constraint task_kinds_kind_check check (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
  description     text not null default '',
  payload_schema  jsonb not null default '{"type": "object"}'::jsonb
                  constraint task_kinds_schema_check check (jsonb_typeof(payload_schema) = 'object'),
  time_limit_s    double precision not null constraint task_kinds_limit_check check (time_limit_s > 0),
  -- The kind a job gets when its submitter names none: the registry's, one row at most.
  is_default      boolean not null default false,
  published_at    timestamptz not null default now(),
  -- Flow control (concurrency, fair shares, priority bounds, rate limit), as the registry
  -- declares it (functions/core/flow.py; private.flow_admit). Empty: none, the plain path.
  flow            jsonb not null default '{}'::jsonb
                  constraint task_kinds_flow_check check (jsonb_typeof(flow) = 'object')
);
create unique index if not exists task_kinds_one_default on public.task_kinds (is_default) where is_default;

-- The kind a job gets when its submitter names none (task_kinds.is_default). PL/pgSQL so that
-- its query is planned once a session: a SQL function with its own search_path is not inlined,
-- and before PostgreSQL 18 it is planned at every call, on every submit here (measured in
-- bench/results/ISSUE24.md).
create or replace function private.default_kind() returns text
language plpgsql stable
set search_path = pg_catalog
as $$ begin return (select k.kind from public.task_kinds k where k.is_default); end $$;
revoke all on function private.default_kind() from public, anon, authenticated;

-- Only the functions read and write it: the page learns the kinds from GET /kinds.
alter table public.task_kinds enable row level security;
revoke all on public.task_kinds from public, anon, authenticated;
grant all on public.task_kinds to service_role;

-- The built-in kinds, as functions/core/tasks.py declares them with the default settings
-- (tests hold the two equal). Seeded so that submit accepts them before the first worker has
-- published: on Lambda a worker's cold start follows a job, so an empty table would refuse
-- every job and no worker would ever start to fill it.
insert into public.task_kinds (kind, description, payload_schema, time_limit_s, is_default) values
  ('echo', 'Completes with its payload as the result: any JSON object.', '{"type": "object"}'::jsonb, 5.0, false),
  ('fail', 'Always raises: shows the retry path and how a failed job looks.', '{"properties": {"message": {"description": "The error it fails with", "maxLength": 1000, "title": "Error message", "type": "string"}}, "type": "object"}'::jsonb, 5.0, false),
  ('noop', 'Does nothing and completes at once; any payload.', '{"type": "object"}'::jsonb, 5.0, false),
  ('simulate', 'Works for a while (seconds, or 5-10 s at random), then says how long it took.', '{"properties": {"seconds": {"description": "How long to work; 5-10 s at random when left out (capped at the worker''s TASK_MAX_SECONDS)", "minimum": 0, "title": "Seconds", "type": "number"}}, "type": "object"}'::jsonb, 11.0, true)
on conflict (kind) do nothing;

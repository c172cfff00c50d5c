-- Functions on every submit and every change of a job, planned once a session: before
-- PostgreSQL 18 a SQL-language function that cannot be inlined (each of these sets its
-- search_path) is planned again at every call. On PG 15 that planning was most of what the
-- Broadcast sends cost a submit (0.64x of a submit without them) and 40-50 us of each submit
-- in private.default_kind and private.max_workers. Same results and signatures, now PL/pgSQL;
-- the definitions are the schema folder's.

create or replace function private.default_kind() returns text
language plpgsql stable
set search_path = pg_catalog
as $$ begin return (select k.kind from public.task_kinds k where k.is_default); end $$;
revoke all on function private.default_kind() from public, anon, authenticated;

create or replace function private.max_workers() returns integer
language plpgsql stable
security definer
set search_path = pg_catalog
as $$
begin
  return coalesce((select greatest(1, s.value::integer) from private.settings s
                   where s.name = 'max_workers'), 5);
end
$$;
revoke all on function private.max_workers() from public, anon, authenticated;

create or replace function private.job_messages(p_changes jsonb)
returns table (id uuid, topic text, message jsonb)
language plpgsql
set search_path = pg_catalog
as $$
begin
  return query
  select gen_random_uuid(), t.topic, m.message
  from jsonb_array_elements(p_changes) as c(change)
  cross join lateral (
    select c.change -> 'job' as job,
           case when jsonb_typeof(c.change -> 'event') = 'object' then c.change -> 'event' end
             as event
  ) j
  cross join lateral (
    select jsonb_build_object(
             'job', jsonb_build_object(
               'job_id', j.job -> 'job_id', 'task_name', j.job -> 'task_name',
               'kind', j.job -> 'kind', 'status', j.job -> 'status',
               'attempts', j.job -> 'attempts', 'run', j.job -> 'run',
               'result', j.job -> 'result', 'error', j.job -> 'error',
               'progress', j.job -> 'progress', 'progress_total', j.job -> 'progress_total',
               'progress_message', j.job -> 'progress_message',
               'created_at', j.job -> 'created_at', 'started_at', j.job -> 'started_at',
               'finished_at', j.job -> 'finished_at', 'updated_at', j.job -> 'updated_at',
               'run_at', j.job -> 'run_at', 'cancel_requested_at', j.job -> 'cancel_requested_at',
               'owner_id', j.job -> 'owner_id'),
             'event', case when j.event is not null then jsonb_build_object(
               'event_id', j.event -> 'event_id', 'event', j.event -> 'event',
               'status', j.event -> 'status', 'detail', j.event -> 'detail',
               'run', j.event -> 'run', 'attempt', j.event -> 'attempt', 'at', j.event -> 'at')
             end) as message
  ) m
  -- The submit itself only to the owner's topic: nobody can be following a job that did not
  -- exist, and a follower reads it (GET /jobs/<id>, events included) once it has joined. It
  -- keeps the cost of a submit to one message.
  cross join lateral unnest(
    array[coalesce('jobs:user:' || (j.job ->> 'owner_id'), 'jobs:public')]
    || case when j.event is null or j.event ->> 'event' not in ('submitted', 'scheduled')
            then array['jobs:job:' || (j.job ->> 'job_id')] else '{}'::text[] end
  ) as t(topic);
end
$$;
revoke all on function private.job_messages(jsonb) from public, anon, authenticated;

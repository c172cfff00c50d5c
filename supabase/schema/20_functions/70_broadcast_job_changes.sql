-- Live status over Realtime Broadcast: every change of a job that a watcher cares about (a
-- transition or attempt, or new progress; private.record_job_events passes them) is sent as
-- realtime.send sends it (a row of realtime.messages) inside the transaction that makes it, so a
-- rollback sends nothing and a commit sends exactly what it wrote. Three private topics carry it:
--   jobs:user:<owner_id>  the owner's jobs (a page or client watching all of them)
--   jobs:public           the public demo mode's jobs (no owner)
--   jobs:job:<job_id>     one job (a client following it, `supajobs --wait`), from its
--                         first change after the submit
-- Who may join which topic is the policies on realtime.messages (40_policies/30_realtime.sql).
-- The payload is the job's public fields (not its input payload, its message or its lease) and
-- the event: {"job": {...}, "event": {event_id, event, status, detail, run, attempt, at} | null}
-- (null for a progress report).

-- The messages for a statement's changes, [{"job": <job_results row>, "event": <job_events row
-- or null>}, ...]: one per topic each change goes to. PL/pgSQL to be planned once a session
-- (see private.default_kind): planning this query at every call was most of what a send cost.
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

create or replace function private.broadcast_job_changes(p_changes jsonb)
returns void
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_at timestamp := now();  -- what realtime.messages.inserted_at defaults to
  v_message record;
begin
  if p_changes is null or jsonb_array_length(p_changes) = 0 then
    return;
  end if;
  -- realtime.send's rows, written in one statement while today's partition of realtime.messages
  -- is there. realtime.send wraps each insert in an exception block (a subtransaction) so that a
  -- failure only warns, and a subtransaction per job would overflow the subtransaction cache of
  -- a batch submit. The failure it guards against is a missing partition: without one, this goes
  -- through realtime.send itself (a warning, nothing sent, the job's change still made).
  if to_regclass('realtime.messages_' || to_char(v_at, 'YYYY_MM_DD')) is not null then
    insert into realtime.messages
      (id, topic, extension, payload, event, private, inserted_at, updated_at)
    select m.id, m.topic, 'broadcast', m.message || jsonb_build_object('id', m.id), 'job', true,
           v_at, v_at
    from private.job_messages(p_changes) m;
  else
    for v_message in select m.topic, m.message from private.job_messages(p_changes) m loop
      perform realtime.send(v_message.message, 'job', v_message.topic, true);
    end loop;
  end if;
end
$$;
revoke all on function private.broadcast_job_changes(jsonb) from public, anon, authenticated;

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

-- The messages of one change of a job: its row after the change and the event it made (null
-- for a change without one), one message per topic it goes to. Built from the row's columns,
-- and a SQL function without SET or SECURITY DEFINER, so the planner inlines it into the
-- statement that calls it: no call and no serialised row a change (the job's input payload
-- was turned into JSON only to be dropped, which was most of what a send cost a submit).
create or replace function private.job_messages(n public.job_results, e public.job_events)
returns table (topic text, message jsonb)
language sql stable
as $$
  select t.topic, jsonb_build_object(
           'job', jsonb_build_object(
             'job_id', n.job_id, 'task_name', n.task_name, 'kind', n.kind, 'status', n.status,
             'attempts', n.attempts, 'run', n.run, 'result', n.result, 'error', n.error,
             'progress', n.progress, 'progress_total', n.progress_total,
             'progress_message', n.progress_message, 'created_at', n.created_at,
             'started_at', n.started_at, 'finished_at', n.finished_at,
             'updated_at', n.updated_at, 'run_at', n.run_at,
             'cancel_requested_at', n.cancel_requested_at, 'owner_id', n.owner_id),
           'event', case when e.event_id is not null then jsonb_build_object(
             'event_id', e.event_id, 'event', e.event, 'status', e.status, 'detail', e.detail,
             'run', e.run, 'attempt', e.attempt, 'at', e.at) end)
  -- The submit itself only to the owner's topic: nobody can be following a job that did not
  -- exist, and a follower reads it (GET /jobs/<id>, events included) once it has joined. It
  -- keeps the cost of a submit to one message.
  from unnest(
    array[coalesce('jobs:user:' || n.owner_id::text, 'jobs:public')]
    || case when e.event_id is null or e.event not in ('submitted', 'scheduled')
            then array['jobs:job:' || n.job_id::text] else '{}'::text[] end
  ) as t(topic)
$$;
revoke all on function private.job_messages(public.job_results, public.job_events)
  from public, anon, authenticated;
drop function if exists private.job_messages(jsonb);

create or replace function private.broadcast_job_changes(p_topics text[], p_messages jsonb[])
returns void
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_at timestamp := now();  -- what realtime.messages.inserted_at defaults to
  v_message record;
begin
  if p_topics is null or cardinality(p_topics) = 0 then
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
    from (select gen_random_uuid() as id, u.topic, u.message
          from unnest(p_topics, p_messages) as u(topic, message)) m;
  else
    for v_message in select u.topic, u.message from unnest(p_topics, p_messages) as u(topic, message)
    loop
      perform realtime.send(v_message.message, 'job', v_message.topic, true);
    end loop;
  end if;
end
$$;
revoke all on function private.broadcast_job_changes(text[], jsonb[])
  from public, anon, authenticated;
drop function if exists private.broadcast_job_changes(jsonb);

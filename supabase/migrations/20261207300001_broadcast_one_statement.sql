-- Issue 21, continued: a submit is broadcast to its owner's topic only (jobs:job:<id> starts with
-- the job's first change after it), and the messages are written as realtime.send writes them in
-- one statement while today's partition of realtime.messages exists (realtime.send's own
-- subtransaction per message cost a submit a third of its rate); realtime.send itself otherwise.
-- Restates supabase/schema/20_functions/70_broadcast_job_change.sql.

create or replace function private.broadcast_job_change(p_job public.job_results, p_event public.job_events)
returns void
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_message jsonb;
  v_topics text[];
  v_topic text;
  v_at timestamp := now();  -- what realtime.messages.inserted_at defaults to
begin
  v_message := jsonb_build_object(
    'job', jsonb_build_object(
      'job_id', p_job.job_id, 'task_name', p_job.task_name, 'kind', p_job.kind,
      'status', p_job.status, 'attempts', p_job.attempts, 'run', p_job.run,
      'result', p_job.result, 'error', p_job.error,
      'progress', p_job.progress, 'progress_total', p_job.progress_total,
      'progress_message', p_job.progress_message,
      'created_at', p_job.created_at, 'started_at', p_job.started_at,
      'finished_at', p_job.finished_at, 'updated_at', p_job.updated_at,
      'run_at', p_job.run_at, 'cancel_requested_at', p_job.cancel_requested_at,
      'owner_id', p_job.owner_id),
    'event', case when p_event.event_id is not null then jsonb_build_object(
      'event_id', p_event.event_id, 'event', p_event.event, 'status', p_event.status,
      'detail', p_event.detail, 'run', p_event.run, 'attempt', p_event.attempt,
      'at', p_event.at) end);
  -- The submit itself only to the owner's topic: nobody can be following a job that did not
  -- exist, and a follower reads it (GET /jobs/<id>, events included) once it has joined. It
  -- keeps the cost of a submit to one message.
  v_topics := array[case when p_job.owner_id is null then 'jobs:public'
                         else 'jobs:user:' || p_job.owner_id::text end];
  if p_event.event is null or p_event.event not in ('submitted', 'scheduled') then
    v_topics := v_topics || ('jobs:job:' || p_job.job_id::text);
  end if;
  -- realtime.send's rows, written in one statement while today's partition of realtime.messages
  -- is there. realtime.send wraps each insert in an exception block (a subtransaction) so that a
  -- failure only warns; that costs a submit about a third of its rate (bench/results/
  -- BROADCAST.md), and a subtransaction per job would overflow the subtransaction cache of a
  -- batch submit. The failure it guards against is a missing partition: without one, this goes
  -- through realtime.send itself (a warning, nothing sent, the job's change still made).
  if to_regclass('realtime.messages_' || to_char(v_at, 'YYYY_MM_DD')) is not null then
    insert into realtime.messages
      (id, topic, extension, payload, event, private, inserted_at, updated_at)
    select m.id, m.topic, 'broadcast', v_message || jsonb_build_object('id', m.id), 'job', true,
           v_at, v_at
    from (select t as topic, gen_random_uuid() as id from unnest(v_topics) as t) m;
  else
    foreach v_topic in array v_topics loop
      perform realtime.send(v_message, 'job', v_topic, true);
    end loop;
  end if;
end
$$;
revoke all on function private.broadcast_job_change(public.job_results, public.job_events)
  from public, anon, authenticated;

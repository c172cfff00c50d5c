-- Issue 21: live status over private Realtime Broadcast from the database. Each job change that
-- job_events records, and each new progress report, is sent with realtime.send in the same
-- transaction to jobs:user:<uid> | jobs:public and jobs:job:<id>; policies on realtime.messages
-- say who may join those topics (nobody may send on them from a client).
-- Restates: supabase/schema/20_functions/70_broadcast_job_change.sql (new),
-- 30_triggers/40_record_job_event.sql (the function only; its trigger is unchanged),
-- 40_policies/30_realtime.sql (new).

-- Live status over Realtime Broadcast: every change of a job that a watcher cares about (a
-- transition or attempt, from private.record_job_event, or new progress) is sent with
-- realtime.send inside the transaction that makes it, so a rollback sends nothing and a commit
-- sends exactly what it wrote. Three private topics carry it:
--   jobs:user:<owner_id>  the owner's jobs (a page or client watching all of them)
--   jobs:public           the public demo mode's jobs (no owner)
--   jobs:job:<job_id>     one job (a client following it, `supajobs --wait`)
-- Who may join which topic is the policies on realtime.messages (40_policies/30_realtime.sql).
-- The payload is the job's public fields (not its input payload, its message or its lease) and
-- the event: {"job": {...}, "event": {event_id, event, status, detail, run, attempt, at} | null}
-- (null for a progress report). Called by the trigger function as the table owner.
create or replace function private.broadcast_job_change(p_job public.job_results, p_event public.job_events)
returns void
language plpgsql
set search_path = pg_catalog
as $$
declare
  v_message jsonb;
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
  perform realtime.send(
    v_message, 'job',
    case when p_job.owner_id is null then 'jobs:public' else 'jobs:user:' || p_job.owner_id::text end,
    true);
  perform realtime.send(v_message, 'job', 'jobs:job:' || p_job.job_id::text, true);
end
$$;
revoke all on function private.broadcast_job_change(public.job_results, public.job_events)
  from public, anon, authenticated;

create or replace function private.record_job_event() returns trigger
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_event text;
  v_detail text;
  v_row public.job_events;
begin
  if tg_op = 'INSERT' then
    v_event := case new.status when 'scheduled' then 'scheduled' else 'submitted' end;
    v_detail := case when new.status = 'scheduled' then 'due at ' || new.run_at::text end;
  elsif new.run <> old.run then
    v_event := 'retried';
  elsif new.status = 'running' and new.attempts > old.attempts then
    v_event := 'started';
  elsif old.status = 'running' and new.status = 'pending' then
    v_event := case when new.attempts < old.attempts then 'handed_back' else 'retrying' end;
    v_detail := new.error;
  elsif new.status <> old.status and new.status in ('completed', 'failed', 'cancelled') then
    v_event := new.status;
    v_detail := new.error;
  elsif new.cancel_requested_at is not null and old.cancel_requested_at is null then
    v_event := 'cancel_requested';
  else
    if new.progress is distinct from old.progress
       or new.progress_total is distinct from old.progress_total
       or new.progress_message is distinct from old.progress_message then
      perform private.broadcast_job_change(new, null::public.job_events);
    end if;
    return null;
  end if;
  insert into public.job_events (job_id, run, attempt, event, status, detail)
  values (new.job_id, new.run, new.attempts, v_event, new.status, left(v_detail, 4000))
  returning * into v_row;
  perform private.broadcast_job_change(new, v_row);
  return null;
end
$$;
revoke all on function private.record_job_event() from public, anon, authenticated;

-- Who may join the jobs' Broadcast topics (private channels; see
-- 20_functions/70_broadcast_job_change.sql). Realtime authorises a join by selecting a probe
-- row of the topic from realtime.messages under the subscriber's role and claims, and a send by
-- inserting one. The rules here follow the job's own: jobs:public to anyone with the anon key or
-- a session, jobs:user:<uid> only to that user, jobs:job:<job_id> to whoever may read the job
-- (public.job_results' policies decide, as for job_events). A topic name that is not one of
-- these shapes (a forged one) matches nothing; the uuid is cast only after the shape is checked.
-- They test the row's topic, not realtime.topic(): that setting is any session's to change.
-- The restrictive policies keep jobs:* closed to other permissive policies a project may add:
-- nobody reads a job topic but as above, and no client ever sends on one (only the database).
drop policy if exists "job topics are readable as their jobs are" on realtime.messages;
create policy "job topics are readable as their jobs are" on realtime.messages
  for select to anon, authenticated
  using (
    extension = 'broadcast'
    and (topic = 'jobs:public'
         or topic = 'jobs:user:' || (select auth.uid())::text
         or case when topic ~ '^jobs:job:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                 then exists (select 1 from public.job_results j
                              where j.job_id = substr(topic, 10)::uuid)
                 else false end));

drop policy if exists "job topics are read only as their jobs are" on realtime.messages;
create policy "job topics are read only as their jobs are" on realtime.messages
  as restrictive for select to anon, authenticated
  using (
    topic not like 'jobs:%'
    or (extension = 'broadcast'
        and (topic = 'jobs:public'
             or topic = 'jobs:user:' || (select auth.uid())::text
             or case when topic ~ '^jobs:job:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                     then exists (select 1 from public.job_results j
                                  where j.job_id = substr(topic, 10)::uuid)
                     else false end)));

drop policy if exists "clients never send on job topics" on realtime.messages;
create policy "clients never send on job topics" on realtime.messages
  as restrictive for insert to anon, authenticated
  with check (topic not like 'jobs:%');

drop policy if exists "clients never rewrite job topics" on realtime.messages;
create policy "clients never rewrite job topics" on realtime.messages
  as restrictive for update to anon, authenticated
  using (topic not like 'jobs:%') with check (topic not like 'jobs:%');

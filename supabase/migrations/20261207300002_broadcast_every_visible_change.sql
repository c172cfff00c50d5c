-- Issue 21, continued: a change of a job that records no event but changes what a watcher
-- shows (a status, attempt count, result or error set by hand, besides progress) is broadcast too,
-- without an event. Restates supabase/schema/30_triggers/40_record_job_event.sql (the function).

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
    -- No event, but what a watcher shows moved (progress, or a status or outcome changed by
    -- hand): sent without an event.
    if (new.progress, new.progress_total, new.progress_message, new.status, new.attempts,
        new.result, new.error)
       is distinct from
       (old.progress, old.progress_total, old.progress_message, old.status, old.attempts,
        old.result, old.error) then
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

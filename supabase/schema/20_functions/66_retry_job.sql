-- Retry by hand: a failed or cancelled job runs again as a new run of the same job (its
-- events stay), attempts counted afresh, with a new message; any other job is left as it is.
-- Returns the status the job had before the call (so failed or cancelled means it was
-- retried), null for no job.
create or replace function public.retry_job(job_id uuid) returns text
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_job record;
  v_msg_id bigint;
begin
  select j.status, j.msg_id, j.kind, j.flow_controlled into v_job from public.job_results j
  where j.job_id = retry_job.job_id for update;
  if not found then
    return null;
  end if;
  if v_job.status not in ('failed', 'cancelled') then
    return v_job.status;
  end if;
  -- The old message, if a cancel left it queued, must not start the new run (nor will it: it
  -- is no longer the job's current message).
  perform private.archive_unlocked(v_job.msg_id);
  -- A flow-controlled job waits in line again (private.flow_admit sends its message).
  if v_job.flow_controlled then
    perform private.flow_lock(v_job.kind);
  else
    select pgmq.send('work_queue', jsonb_build_object('job_id', retry_job.job_id)) into v_msg_id;
  end if;
  update public.job_results
  set status = 'pending', run = run + 1, attempts = 0, msg_id = v_msg_id, result = null,
      error = null, progress = null, progress_total = null, progress_message = null,
      cancel_requested_at = null, started_at = null, finished_at = null, run_at = null,
      claimed_by = null
  where job_id = retry_job.job_id;
  if v_job.flow_controlled then
    perform private.flow_enqueue(array[retry_job.job_id]);
    perform private.flow_admit(v_job.kind);
  end if;
  return v_job.status;
end
$$;
revoke all on function public.retry_job(uuid) from public, anon, authenticated;
grant execute on function public.retry_job(uuid) to service_role;

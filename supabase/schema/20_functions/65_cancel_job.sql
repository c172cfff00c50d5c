-- Cancel: a job not yet running is cancelled at once and its message archived; a running one
-- is marked, and its worker ends it; a finished job is left as it is. Returns the status the
-- job had before the call (the API answers 409 for completed or failed), null for no job.
-- Locks the job, then archives its message only if no claim holds it (SKIP LOCKED): a claim
-- that has it will find the job cancelled and archive it as skipped.
create or replace function public.cancel_job(job_id uuid) returns text
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
#variable_conflict use_column
declare
  v_job record;
begin
  select j.status, j.msg_id into v_job from public.job_results j
  where j.job_id = cancel_job.job_id for update;
  if not found then
    return null;
  end if;
  if v_job.status in ('pending', 'scheduled') then
    update public.job_results
    set status = 'cancelled', finished_at = now(), cancel_requested_at = now()
    where job_id = cancel_job.job_id;
    perform private.archive_unlocked(v_job.msg_id);
  elsif v_job.status = 'running' then
    update public.job_results set cancel_requested_at = coalesce(cancel_requested_at, now())
    where job_id = cancel_job.job_id;
  end if;
  return v_job.status;
end
$$;
revoke all on function public.cancel_job(uuid) from public, anon, authenticated;
grant execute on function public.cancel_job(uuid) to service_role;

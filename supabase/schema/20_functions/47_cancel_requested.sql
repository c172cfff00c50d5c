-- Which of these in-flight jobs a person asked to cancel (the heartbeat's look).
create or replace function private.cancel_requested(p_job_ids uuid[]) returns setof uuid
language sql stable
as $$
  select j.job_id from public.job_results j
  where j.job_id = any (p_job_ids) and j.cancel_requested_at is not null
$$;
revoke all on function private.cancel_requested(uuid[]) from public, anon, authenticated;

-- Starts a redelivered message's job for a new attempt held by p_holder (the claim returns
-- redeliveries unstarted, and the worker runs them one at a time). A message that may no longer
-- start its job (not the job's current message, or the job has finished) is archived and no
-- row comes back.
create or replace function private.start_attempt(p_holder text, p_msg_id bigint, p_job_id uuid)
returns table (kind text, task_name text, payload jsonb, attempt integer)
language plpgsql
as $$
#variable_conflict use_column
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = p_msg_id for update;
  return query
  update public.job_results j
  set status = 'running', attempts = j.attempts + 1, started_at = clock_timestamp(),
      error = null, claimed_by = p_holder
  where j.job_id = p_job_id and j.msg_id = p_msg_id
    and j.status in ('pending', 'scheduled', 'running')
  returning j.kind, j.task_name, j.payload, j.attempts;
  if not found then
    perform pgmq.archive('work_queue', p_msg_id);
  end if;
end
$$;
revoke all on function private.start_attempt(text, bigint, uuid) from public, anon, authenticated;

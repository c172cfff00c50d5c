-- A failed attempt to be tried again later: the job goes back to pending with the error and its
-- message becomes visible after p_delay_s (fractional: not pgmq.set_vt, whose whole seconds
-- would round a jittered backoff back into lockstep). Only while the attempt still owns the
-- job; returns whether it did.
create or replace function private.retry_attempt(
  p_job_id uuid, p_attempt integer, p_msg_id bigint, p_error text, p_delay_s double precision
) returns boolean
language plpgsql
as $$
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = p_msg_id for update;
  update public.job_results
  set status = 'pending', error = p_error
  where job_id = p_job_id and status = 'running' and attempts = p_attempt;
  if not found then
    return false;
  end if;
  update pgmq.q_work_queue
  set vt = clock_timestamp() + make_interval(secs => greatest(p_delay_s, 0))
  where msg_id = p_msg_id;
  return true;
end
$$;
revoke all on function private.retry_attempt(uuid, integer, bigint, text, double precision)
  from public, anon, authenticated;

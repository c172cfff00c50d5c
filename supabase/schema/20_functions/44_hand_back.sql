-- Messages returned unrun (or cut short by the invocation's deadline), as if this delivery had
-- not happened: a started job goes back to pending with the attempt uncounted, and the read
-- count drops so the next delivery is not mistaken for a redelivery (one that may have crashed
-- a worker, and is run alone). Only what the caller still owns changes: the job at the claim's
-- attempt (null: never started), the message at the read count it was claimed with.
-- Returns the msg_ids handed back.
create or replace function private.hand_back(
  p_msg_ids bigint[], p_read_counts integer[], p_job_ids uuid[], p_attempts integer[]
) returns setof bigint
language plpgsql
as $$
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = any (p_msg_ids) order by q.msg_id for update;
  perform 1 from public.job_results j where j.job_id = any (p_job_ids) order by j.job_id for update;
  return query
  with handed as (
    select * from unnest(p_msg_ids, p_read_counts, p_job_ids, p_attempts)
      as h(msg_id, read_ct, job_id, attempt)
  ), released as (
    update public.job_results j
    set status = 'pending', attempts = j.attempts - 1
    from handed h
    where h.attempt is not null and j.job_id = h.job_id
      and j.status = 'running' and j.attempts = h.attempt
      and exists (
        select from pgmq.q_work_queue q where q.msg_id = h.msg_id and q.read_ct = h.read_ct
      )
    returning h.msg_id
  )
  update pgmq.q_work_queue q
  set vt = clock_timestamp(), read_ct = q.read_ct - 1
  from handed h
  where q.msg_id = h.msg_id and q.read_ct = h.read_ct
    and (h.attempt is null or h.msg_id in (select r.msg_id from released r))
  returning q.msg_id;
end
$$;
revoke all on function private.hand_back(bigint[], integer[], uuid[], integer[])
  from public, anon, authenticated;

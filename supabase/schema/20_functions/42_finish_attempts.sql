-- The outcomes of a group of attempts, recorded and their messages archived in one
-- transaction: the one terminal write of a job. An attempt that no longer owns its job (status
-- running, same attempt number) changes nothing. Returns the msg_ids recorded.
-- Locks: messages (msg_id order), then jobs (job_id order), as every writer does; the
-- heartbeat's writes skip rows locked here rather than wait (private.report_progress).
-- The archive is pgmq.archive's statement written out, so it is planned once.
create or replace function private.finish_attempts(
  p_job_ids uuid[], p_attempts integer[], p_statuses text[], p_results text[],
  p_errors text[], p_msg_ids bigint[]
) returns setof bigint
language plpgsql
as $$
declare
  v_recorded bigint[];
  v_rows tid[];
begin
  perform 1 from pgmq.q_work_queue q where q.msg_id = any (p_msg_ids) order by q.msg_id for update;
  -- The jobs' rows, locked; the update then goes to those very rows (a TID scan: locked by us,
  -- they stay where they are until we commit), and the status they must still have comes with
  -- each outcome (was), not as a constant the planner could look up in job_results_by_status.
  -- Left to the planner, the update could read every 'running' entry of that index or the
  -- whole table, and while an old snapshot is held that is every job a drain has run (dead
  -- entries cannot be pruned).
  select coalesce(array_agg(l.ctid), '{}') into v_rows
  from (select j.ctid from public.job_results j where j.job_id = any (p_job_ids)
        order by j.job_id for update) l;
  with outcome as materialized (
    select o.*, 'running'::text as was
    from unnest(p_job_ids, p_attempts, p_statuses, p_results, p_errors, p_msg_ids)
      as o(job_id, attempt, status, result, error, msg_id)
  ), recorded as (
    update public.job_results j
    set status = o.status, result = o.result, error = o.error, finished_at = now()
    from outcome o
    where j.ctid = any (v_rows) and j.job_id = o.job_id
      and j.status = o.was and j.attempts = o.attempt
    returning o.msg_id
  )
  select coalesce(array_agg(r.msg_id), '{}') into v_recorded from recorded r;
  -- The archive looks the messages up by their ids (a join with the update's rows could be
  -- planned as a scan of the whole queue table, dead rows and all).
  return query
  with archived as (
    delete from pgmq.q_work_queue q where q.msg_id = any (v_recorded)
    returning q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message
  )
  insert into pgmq.a_work_queue (msg_id, read_ct, enqueued_at, vt, message)
  select a.msg_id, a.read_ct, a.enqueued_at, a.vt, a.message from archived a
  returning msg_id;
end
$$;
revoke all on function private.finish_attempts(uuid[], integer[], text[], text[], text[], bigint[])
  from public, anon, authenticated;

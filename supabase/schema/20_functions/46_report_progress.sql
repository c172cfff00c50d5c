-- The latest progress of running attempts, written by the heartbeat while each attempt still
-- owns its job. Best effort by design: a job row locked by another writer (its outcome, a
-- cancel) is skipped rather than waited for, so progress can never deadlock with the terminal
-- write; the next beat writes the latest value again.
create or replace function private.report_progress(
  p_job_ids uuid[], p_attempts integer[], p_dones double precision[],
  p_totals double precision[], p_messages text[]
) returns void
language sql
as $$
  update public.job_results j
  set progress = p.done, progress_total = p.total, progress_message = p.message
  from unnest(p_job_ids, p_attempts, p_dones, p_totals, p_messages)
       as p(job_id, attempt, done, total, message)
  where j.job_id = p.job_id and j.status = 'running' and j.attempts = p.attempt
    and j.job_id in (select l.job_id from public.job_results l where l.job_id = any (p_job_ids)
                     order by l.job_id for update skip locked)
$$;
revoke all on function private.report_progress(uuid[], integer[], double precision[], double precision[], text[])
  from public, anon, authenticated;

-- The sweep, run every 2 seconds by Supabase Cron (pg_cron, see 60_schedules/) or, where
-- there is none, by the local stack's sweeper with this same call. It is what recovers from
-- every lost arrow:
-- 1. a worker whose lease lapsed (it missed its heartbeats: killed, lost its database, ran out
--    of time) is gone: its lease is dropped and its running attempts' messages are made
--    visible at once, rather than after their visibility timeout;
-- 2. wake-ups older than any signed call's window are forgotten;
-- 3. visible work (released above, come due, a retry, a lost call) with too few workers gets
--    wake-ups through the same signed path as an enqueue.
-- Returns what it did.
create or replace function private.sweep(p_batch_size integer default 10) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_dead text[];
  v_released integer;
  v_woken integer := 0;
begin
  with dead as (
    delete from private.queue_leases where expires_at <= clock_timestamp() returning holder
  )
  select coalesce(array_agg(holder), '{}') into v_dead from dead;
  with released as (
    update pgmq.q_work_queue q set vt = clock_timestamp()
    where q.vt > clock_timestamp()
      and q.msg_id in (select j.msg_id from public.job_results j
                       where j.status = 'running' and j.claimed_by = any (v_dead))
    returning q.msg_id
  )
  select count(*) into v_released from released;
  delete from private.wake_ups where sent_at < clock_timestamp() - interval '10 minutes';
  -- Schedules that are due submit their jobs, and flow control catches up (delayed and
  -- rate-limited jobs): their messages are sent here, so the look below sees them.
  perform private.run_schedules();
  perform private.flow_sweep();
  if exists (select from pgmq.q_work_queue q where q.vt <= clock_timestamp()) then
    v_woken := private.wake_workers(private.workers_wanted(p_batch_size), 'sweep');
  end if;
  return jsonb_build_object('dead_leases', cardinality(v_dead), 'released', v_released,
                            'woken', v_woken);
end
$$;
revoke all on function private.sweep(integer) from public, anon, authenticated;

-- A worker that found nothing to do, or that gives up, leaves. Under WAKE_LOCK taken
-- exclusively (so every enqueuer that saw a lease has committed or rolled back, and none reads
-- the leases until this commits) it drops its lease, makes the messages of any attempt it
-- still holds visible at once (a worker that gives up mid-batch records no outcome for them;
-- waiting out their visibility would stall them), then looks at the queue once more. Visible work: with p_stay
-- the caller keeps its lease and returns true (it drains on); without, the database makes
-- sure a worker is on its way (returns false). Nothing visible: false.
create or replace function private.leave_work_queue(
  p_holder text, p_lease_s double precision, p_stay boolean
) returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  perform pg_advisory_xact_lock(private.wake_lock_key());
  delete from private.queue_leases where holder = p_holder;
  update pgmq.q_work_queue q set vt = clock_timestamp()
  where q.vt > clock_timestamp()
    and q.msg_id in (select j.msg_id from public.job_results j
                     where j.status = 'running' and j.claimed_by = p_holder);
  if not exists (select from pgmq.q_work_queue q where q.vt <= clock_timestamp()) then
    return false;
  end if;
  if p_stay then
    perform private.hold_work_queue(p_holder, p_lease_s);
    return true;
  end if;
  perform private.wake_workers(1, 'left with work visible');
  return false;
end
$$;
revoke all on function private.leave_work_queue(text, double precision, boolean) from public, anon, authenticated;

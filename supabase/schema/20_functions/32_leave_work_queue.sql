-- A worker that found nothing to do leaves. Under WAKE_LOCK taken exclusively (so every
-- enqueuer that saw a lease has committed or rolled back, and none reads the leases until this
-- commits) it drops its lease, then looks at the queue once more. Visible work: with p_stay
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

-- Makes sure at least min(p_wanted, max_workers) workers hold the queue or are on their way,
-- sending a wake-up for each one missing. Under SEND_LOCK, so concurrent deciders never send
-- more than the ceiling between them. Returns how many wake-ups it sent.
create or replace function private.wake_workers(p_wanted integer, p_reason text)
returns integer
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
  v_live integer;
  v_sent integer := 0;
begin
  perform pg_advisory_xact_lock(private.send_lock_key());
  select count(*) into v_live from private.queue_leases where expires_at > clock_timestamp();
  for i in 1 .. least(p_wanted, private.max_workers()) - v_live loop
    exit when not private.send_wakeup(p_reason);
    v_sent := v_sent + 1;
  end loop;
  return v_sent;
end
$$;
revoke all on function private.wake_workers(integer, text) from public, anon, authenticated;

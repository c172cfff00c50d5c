-- A worker takes or renews its lease; while any lease is live, enqueuing sends no wake-up.
-- A lease lapses p_lease_s after its last renewal: that is how a dead worker is noticed.
create or replace function private.hold_work_queue(p_holder text, p_lease_s double precision)
returns void
language sql
security definer
set search_path = pg_catalog
as $$
  insert into private.queue_leases (holder, expires_at)
  values (p_holder, clock_timestamp() + make_interval(secs => p_lease_s))
  on conflict (holder) do update set expires_at = excluded.expires_at
$$;
revoke all on function private.hold_work_queue(text, double precision) from public, anon, authenticated;

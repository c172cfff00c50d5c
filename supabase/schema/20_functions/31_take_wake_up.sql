-- A woken worker takes its wake-up: the first taker gets it as its lease and drains (true); a
-- replay of the same signed call, or a wake-up the sweep has forgotten, gets false and starts
-- nothing.
create or replace function private.take_wake_up(p_wake_id text, p_lease_s double precision)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog
as $$
begin
  update private.wake_ups set taken_at = clock_timestamp()
  where wake_id = p_wake_id and taken_at is null;
  if not found then
    return false;
  end if;
  perform private.hold_work_queue(p_wake_id, p_lease_s);
  return true;
end
$$;
revoke all on function private.take_wake_up(text, double precision) from public, anon, authenticated;
